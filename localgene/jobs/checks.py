"""Every check a job goes through, in one ordered table, and :func:`check_job` that runs them.

A job is checked at several moments (*stages*); each stage runs the same ordered list
(:data:`CHECKS`), skipping the checks that do not apply to it:

``submit``
    ``localgene submit`` / ``POST``: the body, the options, this machine, every input where it
    lives (a HEAD or a stat) and the destination. Nothing is recorded unless all pass.
``run``
    The job process, before Snakemake starts: the body again, the options, this machine and
    the local files (the inputs may have been staged since submit).
``workflow``
    Snakemake's main process (``rules/common.smk``): the plan from the job's config, the
    options read from the job's snapshot (checked again when there is none), this machine
    (unless the job process that started this Snakemake has just checked it: the snapshot says
    so), the local files. The body was checked by ``config/schema.yaml``.
``step``
    Every other Snakemake process of the run (a cluster job's): only the plan, from the snapshot.
``check``
    ``localgene check job.json``: as ``run``, with the options checked afresh (no cache).

The first failing check raises its :class:`~localgene.errors.LocalgeneError` (naming the field);
later checks do not run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from localgene import storage
from localgene.cnvkit import options as job_options
from localgene.cnvkit import options_snapshot
from localgene.cnvkit import plan as job_plan
from localgene.errors import LocalgeneError
from localgene.jobs import pipeline_inputs, references
from localgene.jobs.bodies import parse_cnvkit_body, parse_pipeline_body
from localgene.settings import Settings

Stage = Literal["submit", "run", "workflow", "step", "check"]
STAGES: tuple[str, ...] = ("submit", "run", "workflow", "step", "check")


@dataclass
class CheckedJob:
    """What the checks found. ``config`` is what the plan was built from."""

    kind: str  # "cnvkit" or "pipeline"
    stage: str
    body: dict[str, Any]
    config: dict[str, Any]
    settings: Settings
    cores: int | None = None
    snapshot: Path | None = None
    parsed: Any = None
    options: job_options.CheckedOptions | None = None
    plan: job_plan.Plan | None = None
    warnings: list[str] = field(default_factory=list)
    input_size: int = 0
    # set by the pipeline checks
    _s3: storage.S3Config | None = None
    _local: dict[str, str] = field(default_factory=dict)

    @property
    def s3(self) -> storage.S3Config:
        if self._s3 is None:
            self._s3 = storage.S3Config.from_env()
        return self._s3


# --------------------------------------------------------------------------------------------
# CNVkit checks


def _cnvkit_body(job: CheckedJob) -> None:
    job.parsed = parse_cnvkit_body(job.body)
    if job.stage == "submit":  # the plan of a submitted job is built from the model's values
        job.config = job.parsed.model_dump()


def _cnvkit_options(job: CheckedJob) -> None:
    if job.stage in ("submit", "run"):
        job.options = options_snapshot.check_options_cached(
            job.config, cores=job.cores, cache_dir=job.settings.cache_dir / options_snapshot.CHECKED_SUBDIR)
        return
    if job.stage in ("workflow", "step") and job.snapshot is not None:
        job.options = options_snapshot.load_snapshot(
            job.config, job.snapshot, cores=job.cores if job.stage == "workflow" else None)
    if job.options is None:
        job.options = job_options.check_options(job.config, cores=job.cores)


def _cnvkit_plan(job: CheckedJob) -> None:
    job.plan = job_plan.build_plan(job.config, cores=job.cores, options=job.options)
    job.warnings = job.plan.warnings


def _cnvkit_environment(job: CheckedJob) -> None:
    assert job.plan is not None
    if job.stage == "workflow" and options_snapshot.machine_checked_by_parent(job.snapshot):
        return  # the job process that started this Snakemake checked it a moment ago (stage run)
    job_plan.check_environment(job.plan)


def _cnvkit_local_files(job: CheckedJob) -> None:
    assert job.plan is not None
    job_plan.check_local_files(job.plan)


def _cnvkit_inputs(job: CheckedJob) -> None:
    report = storage.check_inputs(storage.cnvkit_input_fields(job.body), job.s3)
    job.input_size = report.input_size


def _cnvkit_output_dir(job: CheckedJob) -> None:
    storage.check_output_dir(job.body["output_dir"], job.s3)


# --------------------------------------------------------------------------------------------
# Pipeline checks


def _pipeline_body(job: CheckedJob) -> None:
    job.parsed = parse_pipeline_body(job.body)


def _pipeline_installed(job: CheckedJob) -> None:
    from localgene.run.workflow import pipeline_snakefile

    pipeline_snakefile(job.parsed.job_type)  # refused here if not installed


def _pipeline_replicates(job: CheckedJob) -> None:
    pipeline_inputs.check_replicates(job.body)


def _dna_options(job: CheckedJob) -> None:
    if job.parsed.job_type in ("DNA_GERMLINE", "DNA_SOMATIC"):
        from localgene.pipelines.dna import check_dna_body

        job.warnings = check_dna_body(job.body)


def _pipeline_inputs(job: CheckedJob) -> None:
    resolved = references.resolve(pipeline_inputs.input_fields(job.body), references.load(job.settings.home))
    report = storage.check_inputs(resolved.fields, job.s3)
    job._local = {i.field: i.location.local_path for i in report.inputs if not i.location.is_s3}
    pipeline_inputs.check_fastq(job.body, job._local, _object_starts(report, job.s3))
    job.input_size = report.input_size


def _dna_bam_samples(job: CheckedJob) -> None:
    if job.parsed.job_type in ("DNA_GERMLINE", "DNA_SOMATIC"):
        from localgene.pipelines.dna import check_bam_samples

        check_bam_samples(job.body, job._local)


def _pipeline_destinations(job: CheckedJob) -> None:
    for name, value in pipeline_inputs.output_fields(job.body).items():
        check_destination(value, name, job.s3)


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


# --------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # "cnvkit" or "pipeline"
    stages: frozenset[str]
    run: Callable[[CheckedJob], None]


def _at(*stages: str) -> frozenset[str]:
    assert set(stages) <= set(STAGES), stages
    return frozenset(stages)


#: Every check, in the order it runs, with the stages it runs at.
CHECKS: tuple[Check, ...] = (
    Check("body", "cnvkit", _at("submit", "run", "check"), _cnvkit_body),
    Check("options", "cnvkit", _at("submit", "run", "workflow", "step", "check"), _cnvkit_options),
    Check("plan", "cnvkit", _at("submit", "run", "workflow", "step", "check"), _cnvkit_plan),
    Check("environment", "cnvkit", _at("submit", "run", "workflow", "check"), _cnvkit_environment),
    Check("local files", "cnvkit", _at("run", "workflow", "check"), _cnvkit_local_files),
    Check("inputs", "cnvkit", _at("submit"), _cnvkit_inputs),
    Check("output_dir", "cnvkit", _at("submit"), _cnvkit_output_dir),
    Check("body", "pipeline", _at("submit", "run"), _pipeline_body),
    Check("workflow installed", "pipeline", _at("submit", "run"), _pipeline_installed),
    Check("replicates", "pipeline", _at("submit"), _pipeline_replicates),
    Check("DNA options", "pipeline", _at("submit"), _dna_options),
    Check("references and inputs", "pipeline", _at("submit"), _pipeline_inputs),
    Check("BAM samples", "pipeline", _at("submit"), _dna_bam_samples),
    Check("destinations", "pipeline", _at("submit"), _pipeline_destinations),
)


def checks_for(kind: str, stage: str) -> list[Check]:
    """The checks a ``kind`` job goes through at ``stage``, in order."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    return [c for c in CHECKS if c.kind == kind and stage in c.stages]


def job_kind(body: Any) -> str:
    """``pipeline`` for a body with ``job_type``, else ``cnvkit``."""
    return "pipeline" if isinstance(body, dict) and "job_type" in body else "cnvkit"


def check_job(body: Any, settings: Settings, *, stage: Stage, cores: int | None = None,
              config: dict[str, Any] | None = None, snapshot: str | os.PathLike | None = None,
              kind: str | None = None) -> CheckedJob:
    """Run the checks of ``stage`` on ``body`` (raises the first problem found).

    ``config``: what the plan is built from when it is not the body itself (the job process
    adds ``instance_id`` and the coverage cache). ``snapshot``: the job's options snapshot
    (stages ``workflow`` and ``step``). ``kind``: ``cnvkit`` or ``pipeline`` when the caller
    accepts only one (``localgene check`` takes CNVkit bodies); default: from the body.
    """
    kind = kind or job_kind(body)
    job = CheckedJob(kind=kind, stage=stage, body=body, config=body if config is None else config,
                     settings=settings, cores=cores, snapshot=Path(snapshot) if snapshot else None)
    for check in checks_for(kind, stage):
        check.run(job)
    return job
