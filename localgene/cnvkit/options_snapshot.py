"""Checked options kept for later: a snapshot in the job folder for the run's other Snakemake
processes, and a cache under ``$LOCALGENE_HOME/cache/options/`` for later jobs with the same
option strings (docs/speed.md, "Options checked once")."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from localgene import fileio
from localgene.cnvkit import options
from localgene.cnvkit.options import (
    CONF_FIELD_OF_STEP,
    STEPS,
    CheckedOptions,
    StepOptions,
    cross_step_warnings,
    split_options,
)
from localgene.errors import InvalidRequest

# -- A snapshot of checked options, for the other Snakemake processes of the same run ----------
#
# Under a cluster executor every job re-reads the Snakefile in a fresh Snakemake process (two
# per SLURM job). The main process has checked the options already; the others read what it
# found from a snapshot in the job folder instead of importing CNVkit again (~2 s each). The
# snapshot is keyed on the option strings and the CNVkit version: any difference, or no readable
# snapshot, and the options are checked again from scratch.

SNAPSHOT_VERSION = 1
#: Where a job's snapshot lives, relative to its folder (written by localgene.run.workflow.prepare_job
#: at submit, and by the first Snakemake process of a run that finds none).
SNAPSHOT_PATH = Path(".snakemake", "localgene", "options.json")


def snapshot_key(body: dict[str, Any]) -> str:
    """Identifies what a check depends on: the nine option strings and the installed CNVkit."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        cnvkit = version("cnvkit")
    except PackageNotFoundError:
        cnvkit = "unknown"
    parts = [SNAPSHOT_VERSION, cnvkit, [body.get(CONF_FIELD_OF_STEP[step]) for step in STEPS]]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def save_snapshot(checked: CheckedOptions, body: dict[str, Any], path: str | os.PathLike, *,
                  machine_checked_by: int | None = None) -> None:
    """Write the per-step argv/values/given (JSON values only) atomically to ``path``.

    ``machine_checked_by``: the pid of the job process that has just checked this machine for
    the job (R and DNAcopy); the Snakemake it starts then does not check it again
    (:func:`machine_checked_by_parent`)."""
    steps = {
        step: {
            "argv": s.argv,
            "values": {k: v for k, v in s.values.items() if _is_json(v)},
            "given": sorted(s.given),
        }
        for step, s in checked.steps.items()
    }
    snapshot: dict[str, Any] = {"key": snapshot_key(body), "steps": steps}
    if machine_checked_by is not None:
        snapshot["machine_checked_by"] = machine_checked_by
    fileio.atomic_write_json(path, snapshot, indent=None, make_parents=True)


def machine_checked_by_parent(path: str | os.PathLike | None) -> bool:
    """Whether the process that started this one (the job process, for its Snakemake) wrote the
    snapshot at ``path`` after checking this machine for the job."""
    if path is None:
        return False
    try:
        said = json.loads(Path(path).read_text()).get("machine_checked_by")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(said, int) and said == os.getppid()


#: The checks made before, shared by the jobs of one ``$LOCALGENE_HOME`` (under its cache
#: folder): a check depends only on the option strings and the installed CNVkit
#: (:func:`snapshot_key`), so a job with option strings checked before needs no CNVkit import.
CHECKED_SUBDIR = "options"


def check_options_cached(body: dict[str, Any], *, cores: int | None = None,
                         cache_dir: str | os.PathLike | None = None) -> CheckedOptions:
    """:func:`check_options`, or the same answer from ``cache_dir/<snapshot key>.json`` when
    these option strings were checked before with this CNVkit (the check is then written
    there). ``cache_dir`` defaults to ``$LOCALGENE_HOME/cache/options``. A refusal is never
    cached: the bad option is checked (and refused) again."""
    if cache_dir is None:
        from localgene import settings

        cache_dir = settings.load().cache_dir / CHECKED_SUBDIR
    path = Path(cache_dir) / f"{snapshot_key(body)}.json"
    found = load_snapshot(body, path, cores=cores)
    if found is not None:
        return found
    checked = options.check_options(body, cores=cores)
    try:
        save_snapshot(checked, body, path)
    except OSError:
        pass  # a cache that cannot be written only costs the next job the check
    return checked


def load_snapshot(body: dict[str, Any], path: str | os.PathLike, *, cores: int | None = None) -> CheckedOptions | None:
    """The options checked before, or None when there is no matching snapshot.

    With ``cores``, the cross-step warnings are worked out again from the checked values (they
    depend on the cores; no CNVkit import needed), as :func:`check_options` gives them.
    """
    try:
        data = json.loads(Path(path).read_text())
        if data.get("key") != snapshot_key(body) or set(data["steps"]) != set(STEPS):
            return None
        steps = {
            step: StepOptions(step=step, argv=list(s["argv"]), values=dict(s["values"]),
                              given=frozenset(s["given"]))
            for step, s in data["steps"].items()
        }
        # the argv handed to CNVkit is always the job's own option string, split again here
        if any(steps[step].argv != split_options(step, body.get(CONF_FIELD_OF_STEP[step])) for step in STEPS):
            return None
        checked = CheckedOptions(steps=steps)
        if cores is not None:
            checked.warnings.extend(cross_step_warnings(checked, cores))
    except (OSError, ValueError, KeyError, TypeError, InvalidRequest):
        return None
    return checked


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    return False
