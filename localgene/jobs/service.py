"""The job service: what the CLI and the HTTP API both call.

Each function takes the caller's identity (``project_id``, ``owner``) and a :class:`Store`, checks
everything before recording anything, and raises the :mod:`localgene.errors` tree. A job is
accepted only when its body, its option strings (CNVkit), this machine, its reference names
(pipelines) and its inputs are all fine: a refused job is never recorded and never starts.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from localgene import settings as settings_mod
from localgene.cnvkit import plan as job_plan
from localgene.errors import UnsupportedOption
from localgene.jobs.bodies import (
    CNVKIT_KIND,
    PIPELINE_KINDS,
    JobRecord,
    cnvkit_listing,
    new_record,
    pipeline_listing,
)
from localgene.jobs.checks import check_destination, check_job, job_kind  # noqa: F401  (check_destination: re-exported)
from localgene.settings import Settings
from localgene.store import Paging, Store


def check_cnvkit(body: Any, *, cores: int | None = None,
                 settings: Settings | None = None) -> tuple[dict[str, Any], job_plan.Plan, int]:
    """Check a CNVkit body completely; returns (request as sent, plan, input size in bytes).

    Every input is checked to exist where it lives (a HEAD for objects, never a download; a
    stat for local files); its summed size is the job's ``input_size``. ``output_dir`` is
    checked too: its bucket exists, or its local folder can be written
    (:func:`localgene.jobs.checks.check_job`, stage ``submit``).
    """
    checked = check_job(body, settings or settings_mod.load(), stage="submit", cores=cores, kind="cnvkit")
    assert checked.plan is not None
    return dict(body), checked.plan, checked.input_size


def submit_cnvkit(store: Store, body: Any, *, project_id: str, owner: str,
                  settings: Settings | None = None) -> JobRecord:
    """Record a checked CNVkit job as LAUNCHING; a worker runs it. Returns the record."""
    request, plan, size = check_cnvkit(body, settings=settings)
    record = new_record(project_id, owner, CNVKIT_KIND, request, input_size=size, warnings=plan.warnings)
    return store.submit(record)


def check_pipeline(body: Any, *, home: str | os.PathLike | None = None,
                   settings: Settings | None = None) -> tuple[dict[str, Any], list[str], int]:
    """Check a pipeline body completely; returns (request as sent, warnings, input size in bytes).

    In order (:data:`localgene.jobs.checks.CHECKS`, stage ``submit``): the body's shape
    (:func:`parse_pipeline_body`); that this installation has the pipeline's workflow;
    replicates (RNA); what the DNA pipelines can run here (engine, every ``*_conf`` option:
    :func:`localgene.pipelines.dna.check_dna_body`, DLI.0007, and its warnings, e.g. no BQSR);
    every registry name (an unknown one is DLI.0002 listing the registry's names); that every
    input exists (a HEAD or a stat); the content of FASTQ pairs (local files read, objects by
    the first bytes of one ranged GET); that ``output`` can be delivered to. ``home`` is
    ``$LOCALGENE_HOME`` (default: ``settings``' home), whose reference registry resolves names.
    """
    settings = settings or settings_mod.load()
    if home is not None:
        settings = dataclasses.replace(settings, home=Path(home))
    checked = check_job(body, settings, stage="submit", kind="pipeline")
    return dict(body), checked.warnings, checked.input_size


def submit_pipeline(store: Store, body: Any, *, project_id: str, owner: str,
                    home: str | os.PathLike | None = None, settings: Settings | None = None) -> JobRecord:
    """Record a checked pipeline job as LAUNCHING; a worker runs it. Returns the record."""
    request, warnings, size = check_pipeline(body, home=home, settings=settings)
    record = new_record(project_id, owner, request["job_type"], request, input_size=size, warnings=warnings)
    return store.submit(record)


def submit(store: Store, body: Any, *, project_id: str, owner: str, settings: Settings | None = None) -> JobRecord:
    """A CNVkit body or a pipeline body (it has ``job_type``): checked, then recorded."""
    if job_kind(body) == "pipeline":
        return submit_pipeline(store, body, project_id=project_id, owner=owner, settings=settings)
    return submit_cnvkit(store, body, project_id=project_id, owner=owner, settings=settings)


def list_cnvkit(store: Store, *, project_id: str, owner: str | None, paging: Paging,
                instance_id: str | None = None) -> dict[str, Any]:
    count, records = store.list_jobs(project_id, kinds=CNVKIT_KIND, owner=owner, instance_id=instance_id,
                                     **paging.kwargs())
    return cnvkit_listing(count, records)


def list_pipeline(store: Store, *, project_id: str, owner: str | None, paging: Paging,
                  job_type: str | None = None) -> dict[str, Any]:
    kinds = job_type or PIPELINE_KINDS
    count, records = store.list_jobs(project_id, kinds=kinds, owner=owner, **paging.kwargs())
    return pipeline_listing(count, records)


def get(store: Store, instance_id: str, *, project_id: str, owner: str | None,
        kinds: str | tuple[str, ...] | None = None) -> JobRecord:
    """One job the caller may see: of ``project_id`` and, unless ``owner`` is ``None`` (a
    tenant administrator), of ``owner`` (another user's job: 403, none: 404)."""
    return store.get(project_id, instance_id, owner, kinds=kinds)


def statistics(store: Store, *, project_id: str, owner: str | None, start: int | None = None,
               end: int | None = None) -> dict[str, Any]:
    """The project's per-state totals the caller may see: every user's for ``owner=None`` (a
    tenant administrator, with ``users``), else only ``owner``'s."""
    return store.statistics(project_id, start=start, end=end, owner=owner)


def cancel(store: Store, instance_id: str, *, project_id: str, owner: str | None,
           kinds: str | tuple[str, ...] | None = None) -> JobRecord:
    """Ask for a job to stop: LAUNCHING/RUNNING → CANCELING (→ CANCELLED by its runner)."""
    return store.request_cancel(project_id, instance_id, owner, kinds=kinds, message="cancelled by the user")


def retry(store: Store, instance_id: str, *, project_id: str, owner: str | None,
          kinds: str | tuple[str, ...] | None = None) -> JobRecord:
    """Run a FAILED or CANCELLED job again from where it stopped: back to LAUNCHING; the worker
    that takes it resumes it in its folder (finished steps are not run again)."""
    return store.retry(project_id, instance_id, owner, kinds=kinds)


def log_text(job_dir: Path, step_log: str | None = None, tail: int | None = None) -> str:
    """A job's Snakemake log, or one step's log (a path under ``logs/``), optionally its tail."""
    logs = (job_dir / "logs").resolve()
    path = (logs / step_log).resolve() if step_log else logs / "snakemake.log"
    if logs not in path.parents and path != logs / "snakemake.log":
        raise UnsupportedOption("a log path must stay inside the job's logs/ folder", field="log")
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-tail:] if tail else lines) + ("\n" if lines else "")


def default_cores(slots: int) -> int:
    """Cores each job may use when ``slots`` jobs run at once."""
    return max(1, (os.cpu_count() or 1) // max(1, slots))
