"""A job's folder before anything runs: the body with absolute paths, checked completely
(:func:`localgene.jobs.checks.check_job` at stage ``run``), written as ``config.json`` with the
options snapshot beside it; and the Snakefile a pipeline job runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from localgene import fileio
from localgene import settings as settings_mod
from localgene.cnvkit.options_snapshot import SNAPSHOT_PATH, save_snapshot
from localgene.cnvkit.plan import Plan
from localgene.errors import InvalidRequest
from localgene.jobs.bodies import CNVKIT_LIST_PATH_FIELDS as LIST_PATH_FIELDS
from localgene.jobs.bodies import CNVKIT_SCALAR_PATH_FIELDS as PATH_FIELDS
from localgene.run.workflow_source import workflow_dir
from localgene.settings import Settings


def absolute_paths(body: dict[str, Any], base: Path) -> dict[str, Any]:
    """Plain relative paths in a body made absolute against ``base`` (URLs left as they are;
    in a pipeline body, registry names too)."""
    if "job_type" in body:
        from localgene.jobs.pipeline_inputs import absolute_paths as pipeline_absolute

        return pipeline_absolute(body, base)

    def fix(value: str) -> str:
        if "://" in value or Path(value).is_absolute():
            return value
        return str((base / value).resolve())

    out = dict(body)
    for field in PATH_FIELDS:
        if isinstance(out.get(field), str) and out[field]:
            out[field] = fix(out[field])
    for field in LIST_PATH_FIELDS:
        if isinstance(out.get(field), list):
            out[field] = [fix(v) if isinstance(v, str) else v for v in out[field]]
    return out


def load_body(path: str | os.PathLike) -> dict[str, Any]:
    """Read a job body (JSON) from a file, with a clear error for unreadable or bad JSON."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"{path} must hold a JSON object (the job body)")
    return body


def pipeline_snakefile(job_type: str) -> Path:
    """The workflow of a pipeline, ``rules/<job_type in lower case>/main.smk`` beside the
    Snakefile (which dispatches to it); :class:`UnsupportedOption` if it is not installed."""
    from localgene.errors import UnsupportedOption

    wf = workflow_dir()
    path = wf / "rules" / job_type.lower() / "main.smk"
    if not path.is_file():
        raise UnsupportedOption(
            f"the {job_type} pipeline is not available in this localgene: its workflow "
            f"rules/{job_type.lower()}/main.smk is not installed in {wf}",
            field="job_type",
        )
    return path


def prepare_pipeline_job(body: dict[str, Any], job_dir: str | os.PathLike, *,
                         instance_id: str | None, index_cache: str | os.PathLike | None = None,
                         settings: Settings | None = None) -> None:
    """Write a pipeline job's ``config.json``: ``body`` (already holding local paths) plus
    ``instance_id`` and ``index_cache`` (the shared aligner-index folder; docs/pipelines.md)."""
    from localgene.jobs.checks import check_job

    settings = settings or settings_mod.load()
    check_job(body, settings, stage="run", kind="pipeline")
    if index_cache is None:
        from localgene.pipelines import index_cache as index_cache_mod

        index_cache = settings.cache_dir / index_cache_mod.SUBDIR
    config = dict(body)
    if instance_id:
        config["instance_id"] = instance_id
    config["index_cache"] = str(Path(index_cache).absolute())
    _write_config(Path(job_dir), config)


def _write_config(job_dir: Path, config: dict[str, Any]) -> None:
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    fileio.atomic_write_json(job_dir / "config.json", config)


def prepare_job(
    body: dict[str, Any], job_dir: str | os.PathLike, *, instance_id: str | None, cores: int,
    index_cache: str | os.PathLike | None = None, settings: Settings | None = None,
) -> Plan | None:
    """Check a job completely and write ``config.json`` into its folder; nothing runs yet.

    A body with ``job_type`` is a pipeline job (:func:`prepare_pipeline_job`; returns None);
    any other is a CNVkit job (returns its plan), checked by
    :func:`localgene.jobs.checks.check_job` at stage ``run``. Raises a
    :class:`~localgene.errors.LocalgeneError` naming the field for any problem.
    """
    settings = settings or settings_mod.load()
    if "job_type" in body:
        prepare_pipeline_job(body, job_dir, instance_id=instance_id, index_cache=index_cache, settings=settings)
        return None
    from localgene.cnvkit.coverage_cache import config_entry  # shared control coverage: docs/batches.md
    from localgene.jobs.checks import check_job

    config = dict(body)
    if instance_id:
        config["instance_id"] = instance_id
    config.update(config_entry(settings.home))
    checked = check_job(body, settings, stage="run", cores=cores, config=config, kind="cnvkit")
    plan = checked.plan
    assert plan is not None
    job_dir = Path(job_dir)
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    try:  # Snakemake reads what was checked here instead of importing CNVkit again
        save_snapshot(plan.options, config, job_dir / SNAPSHOT_PATH, machine_checked_by=os.getpid())
    except OSError:
        pass  # it then checks the options itself
    _write_config(job_dir, config)
    return plan


