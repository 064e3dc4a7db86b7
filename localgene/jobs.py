"""The job service: what the CLI and the HTTP API both call.

Each function takes the caller's identity (``project_id``, ``owner``) and a :class:`Store`, checks
everything before recording anything, and raises the :mod:`localgene.errors` tree. A job is
accepted only when its body, its option strings (CNVkit), this machine, its reference names
(pipelines) and its inputs are all fine: a refused job is never recorded and never starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from localgene import options, pipeline_inputs, references, storage, workflow
from localgene import plan as job_plan
from localgene.errors import LocalgeneError, UnsupportedOption
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
    checked = options.check_options_cached(parsed.model_dump(), cores=cores)
    plan = job_plan.build_plan(parsed.model_dump(), cores=cores, options=checked)
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


def check_pipeline(body: Any, *, home: str | os.PathLike | None = None) -> tuple[dict[str, Any], list[str], int]:
    """Check a pipeline body completely; returns (request as sent, warnings, input size in bytes).

    In order: the body's shape (:func:`parse_pipeline_body`); that this installation has the
    pipeline's workflow; replicates (RNA); what the DNA pipelines can run here (engine, every
    ``*_conf`` option: :func:`localgene.pipelines.dna.check_dna_body`, DLI.0007, and its
    warnings, e.g. no BQSR); every registry name (an unknown one is DLI.0002
    listing the registry's names); that every input exists (a HEAD or a stat); the content of
    FASTQ pairs (local files read, objects by the first bytes of one ranged GET); that
    ``output`` can be delivered to. ``home`` is ``$LOCALGENE_HOME`` (default: the current
    settings), whose reference registry resolves names.
    """
    parsed = parse_pipeline_body(body)
    request = dict(body)
    workflow.pipeline_snakefile(parsed.job_type)  # refused here if not installed
    pipeline_inputs.check_replicates(request)
    warnings: list[str] = []
    if parsed.job_type in ("DNA_GERMLINE", "DNA_SOMATIC"):
        from localgene.pipelines.dna import check_dna_body

        warnings = check_dna_body(request)
    if home is None:
        from localgene import settings

        home = settings.load().home
    resolved = references.resolve(pipeline_inputs.input_fields(request), references.load(home))
    s3 = storage.S3Config.from_env()
    report = storage.check_inputs(resolved.fields, s3)
    local = {i.field: i.location.path for i in report.inputs if not i.location.is_s3}
    pipeline_inputs.check_fastq(request, local, _object_starts(report, s3))
    if parsed.job_type in ("DNA_GERMLINE", "DNA_SOMATIC"):
        from localgene.pipelines.dna import check_bam_samples

        check_bam_samples(request, local)
    for field, value in pipeline_inputs.output_fields(request).items():
        check_destination(value, field, s3)
    return request, warnings, report.input_size


def _object_starts(report: storage.InputReport, s3: storage.S3Config) -> dict[str, tuple[str, Any]]:
    """field -> (file name, reader of its first bytes) for every input in object storage; one
    client, made when the first object is read."""
    clients: list[Any] = []

    def reader(info: storage.InputInfo):
        def read() -> tuple[bytes, bool]:
            if not clients:
                clients.append(storage.make_client(s3))
            return storage.read_start(info, pipeline_inputs.OBJECT_CHECK_BYTES, client=clients[0])
        return read

    return {i.field: (i.location.basename, reader(i)) for i in report.inputs if i.location.is_s3}


def check_destination(output: str, field: str, s3: storage.S3Config) -> None:
    """``output`` can receive results: its bucket exists, or its local folder can be written.
    An output naming a file (``out.vcf``) is checked by the folder that will hold it."""
    if output.endswith("/"):
        folder = output
    else:
        folder = output.rsplit("/", 1)[0] + "/" if "/" in output else "./"
    try:
        storage.check_output_dir(folder, s3)
    except LocalgeneError as exc:
        message = str(exc)
        if exc.field and message.startswith(f"{exc.field}: "):
            message = message[len(exc.field) + 2:]
        if folder in message and output != folder:
            message = message.replace(folder, output)
        raise type(exc)(message, field=field) from None


def submit_pipeline(store: Store, body: Any, *, project_id: str, owner: str,
                    home: str | os.PathLike | None = None) -> JobRecord:
    """Record a checked pipeline job as LAUNCHING; a worker runs it. Returns the record."""
    request, warnings, size = check_pipeline(body, home=home)
    record = new_record(project_id, owner, request["job_type"], request, input_size=size, warnings=warnings)
    return store.submit(record)


def submit(store: Store, body: Any, *, project_id: str, owner: str) -> JobRecord:
    """A CNVkit body or a pipeline body (it has ``job_type``): checked, then recorded."""
    if isinstance(body, dict) and "job_type" in body:
        return submit_pipeline(store, body, project_id=project_id, owner=owner)
    return submit_cnvkit(store, body, project_id=project_id, owner=owner)


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
