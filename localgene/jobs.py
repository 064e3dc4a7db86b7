"""The job service: what the CLI and the HTTP API both call.

Each function takes the caller's identity (``project_id``, ``owner``) and a :class:`Store`, checks
everything before recording anything, and raises the :mod:`localgene.errors` tree. A CNVkit job
is accepted only when its body, its option strings, this machine and its inputs are all fine:
a refused job is never recorded and never starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from localgene import plan as job_plan
from localgene import storage
from localgene.errors import UnsupportedOption
from localgene.schema import (
    CNVKIT_KIND,
    PIPELINE_KINDS,
    JobRecord,
    cnvkit_listing,
    new_record,
    parse_cnvkit_body,
    parse_pipeline_body,
    pipeline_listing,
)
from localgene.store import Paging, Store


def check_cnvkit(body: Any, *, cores: int | None = None) -> tuple[dict[str, Any], job_plan.Plan, int]:
    """Check a CNVkit body completely; returns (request as sent, plan, input size in bytes).

    Every input is checked to exist where it lives (a HEAD for objects, never a download; a
    stat for local files); its summed size is the job's ``input_size``. ``output_dir`` is
    checked too: its bucket exists, or its local folder can be written.
    """
    parsed = parse_cnvkit_body(body)
    request = dict(body)
    plan = job_plan.build_plan(parsed.model_dump(), cores=cores)
    job_plan.check_environment(plan)
    s3 = storage.S3Config.from_env()
    report = storage.check_inputs(storage.cnvkit_input_fields(request), s3)
    storage.check_output_dir(request["output_dir"], s3)
    return request, plan, report.input_size


def submit_cnvkit(store: Store, body: Any, *, project_id: str, owner: str) -> JobRecord:
    """Record a checked CNVkit job as LAUNCHING; a worker runs it. Returns the record."""
    request, plan, size = check_cnvkit(body)
    record = new_record(project_id, owner, CNVKIT_KIND, request, input_size=size, warnings=plan.warnings)
    return store.submit(record)


def submit_pipeline(store: Store, body: Any, *, project_id: str, owner: str) -> JobRecord:
    """Pipeline bodies are checked in full, then refused: no pipeline runs in localgene yet."""
    parsed = parse_pipeline_body(body)
    raise UnsupportedOption(
        f"the {parsed.job_type} pipeline is not available in localgene; only CNVkit jobs "
        f"(POST /v2.0/{{project_id}}/gene/tools/cnvkit) run here",
        field="job_type",
    )


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
