"""The job service the ``localgene`` job commands are written against, once.

:class:`JobService` is the interface: submit a batch, list, show, cancel, retry, read a log,
statistics, for one project. Two implementations:

* :class:`LocalJobService`: the local store (``$LOCALGENE_HOME``), through :mod:`localgene.jobs.service`
  and the store's queries; the CLI's user acts for the whole project (``owner=None`` on every
  read, like a tenant administrator), and submits as ``owner``;
* :class:`localgene.client.Client`: a running server's API (``localgene serve``); the token
  decides who the caller is and what they see.

Both raise the :mod:`localgene.errors` tree, so the commands handle either the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from localgene.jobs.samplesheet import BatchItem
    from localgene.settings import Settings
    from localgene.store import Store

#: One row of ``localgene list --table``: instance_id, status, progress, duration (s), owner.
Row = tuple[str, str, str, int, str]


@dataclass(frozen=True)
class Submitted:
    """An accepted job: its id and the notes found when it was checked."""

    instance_id: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Listing:
    """One page of jobs: ``body`` as the API's listing JSON, ``rows`` for a table, ``total``
    every job matching the filters."""

    body: dict[str, Any]
    rows: list[Row]
    total: int


@runtime_checkable
class JobService(Protocol):
    """The job operations of one project (see the module's doc)."""

    def submit(self, items: Sequence[BatchItem], *, base_name: str | None = None) -> Iterable[Submitted]:
        """Check and record jobs; yields each accepted job in order. The local service checks
        every body before recording any (all or nothing); a server takes one job per request, so
        a refusal stops the batch after the jobs already accepted."""
        ...

    def listing(self, *, job_type: str | None = None, instance_id: str | None = None,
                ids: Sequence[str] | None = None, paging: Mapping[str, str] | None = None) -> Listing:
        """CNVkit jobs (or pipeline jobs of ``job_type``), newest first; ``paging``: the
        ``limit``/``offset``/``start``/``end`` strings as typed (checked by the spec's rules)."""
        ...

    def show(self, job_id: str) -> dict[str, Any]:
        """One job, CNVkit or pipeline."""
        ...

    def cancel(self, job_id: str) -> tuple[str, str]:
        """Ask a job to stop; ``(its id, its status now)``."""
        ...

    def retry(self, job_id: str) -> tuple[str, str]:
        """Put a FAILED or CANCELLED job back in the queue; ``(its id, its status now)``."""
        ...

    def log(self, job_id: str, *, step: str | None = None, tail: int | None = None) -> str:
        """A job's Snakemake log (or one step's log under ``logs/``), optionally its tail."""
        ...

    def statistics(self, *, start: Any = None, end: Any = None) -> dict[str, Any]:
        """The project's per-state totals (the API's statistics JSON)."""
        ...

    def close(self) -> None:
        ...


class LocalJobService:
    """:class:`JobService` over the local store."""

    def __init__(self, store: Store, cfg: Settings, *, project_id: str, owner: str):
        self.store, self.cfg, self.project_id, self.owner = store, cfg, project_id, owner

    @classmethod
    def open(cls, *, project_id: str, owner: str) -> LocalJobService:
        """The service over ``$LOCALGENE_HOME``'s store (created if missing)."""
        from localgene import settings as settings_mod
        from localgene.store import Store

        cfg = settings_mod.load().ensure_dirs()
        return cls(Store.open(cfg), cfg, project_id=project_id, owner=owner)

    def close(self) -> None:
        pass  # the store opens a connection per call

    def submit(self, items: Sequence[BatchItem], *, base_name: str | None = None) -> list[Submitted]:
        from localgene.jobs import samplesheet

        records = samplesheet.submit_batch(self.store, list(items), project_id=self.project_id, owner=self.owner,
                                           base_name=base_name, settings=self.cfg)
        return [Submitted(r.instance_id, list(r.warnings)) for r in records]

    def listing(self, *, job_type: str | None = None, instance_id: str | None = None,
                ids: Sequence[str] | None = None, paging: Mapping[str, str] | None = None) -> Listing:
        from localgene.jobs.bodies import CNVKIT_KIND, cnvkit_listing, pipeline_listing
        from localgene.store import parse_paging

        page = parse_paging(paging or {})
        instance_id = None if instance_id is None else instance_id.lower()  # stored lower-case, as the API reads it
        total, records = self.store.list_jobs(self.project_id, kinds=job_type or CNVKIT_KIND, instance_id=instance_id,
                                              instance_ids=None if ids is None else list(ids), limit=page.limit,
                                              offset=page.offset, start=page.start, end=page.end)
        body = (pipeline_listing if job_type else cnvkit_listing)(total, records)
        rows = [(r.instance_id, r.status.value, r.progress, r.duration, r.owner) for r in records]
        return Listing(body, rows, total)

    def show(self, job_id: str) -> dict[str, Any]:
        from localgene.jobs import service as jobs
        from localgene.jobs.bodies import PIPELINE_KINDS, cnvkit_instance_item, pipeline_job_item

        record = jobs.get(self.store, job_id, project_id=self.project_id, owner=None)
        if record.kind in PIPELINE_KINDS:
            item = pipeline_job_item(record)
        else:
            item = cnvkit_instance_item(record)
            item.update(progress=record.progress)
        item.update(warnings=record.warnings, input_size=record.input_size,
                    job_dir=str(self.cfg.job_dir(record.instance_id)))
        return item

    def cancel(self, job_id: str) -> tuple[str, str]:
        from localgene.jobs import service as jobs

        record = jobs.cancel(self.store, job_id, project_id=self.project_id, owner=None)
        return record.instance_id, str(record.status)

    def retry(self, job_id: str) -> tuple[str, str]:
        from localgene.jobs import service as jobs

        record = jobs.retry(self.store, job_id, project_id=self.project_id, owner=None)
        return record.instance_id, str(record.status)

    def log(self, job_id: str, *, step: str | None = None, tail: int | None = None) -> str:
        from localgene.jobs import service as jobs

        record = jobs.get(self.store, job_id, project_id=self.project_id, owner=None)
        return jobs.log_text(self.cfg.job_dir(record.instance_id), step, tail)

    def statistics(self, *, start: Any = None, end: Any = None) -> dict[str, Any]:
        from localgene.jobs import service as jobs
        from localgene.store import parse_time_range

        first, last = parse_time_range({k: v for k, v in (("start", start), ("end", end)) if v is not None})
        return jobs.statistics(self.store, project_id=self.project_id, owner=None, start=first, end=last)
