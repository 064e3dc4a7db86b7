"""Where a job's CNVkit steps run: on this machine (``local``) or through a Snakemake executor plugin.

``LOCALGENE_EXECUTOR`` / ``--executor`` (on ``localgene run`` and ``localgene worker``)
    ``local`` (default): Snakemake runs the steps itself with ``--cores N``.
    ``slurm``: one SLURM job per step through ``snakemake-executor-plugin-slurm``.
    Any other name ``X`` works the same way once the plugin ``snakemake-executor-plugin-X`` is
    installed and a profile ``config/X/`` exists (or ``LOCALGENE_PROFILE`` names one); see
    docs/hpc.md, "Other executors".
``LOCALGENE_PROFILE``
    A site profile folder (a Snakemake profile: ``config.yaml``). It is laid over localgene's
    own profile ``config/<executor>/`` key by key, and inside ``default-resources``,
    ``set-resources`` and ``set-threads`` resource by resource, so a site profile only holds
    what differs (partition, account, status command, a step's memory). The merged profile is
    written into the job folder (``logs/profile/config.yaml``), so a job records what it asked for.
``LOCALGENE_CLUSTER_JOBS``
    At most this many cluster jobs of one localgene job queued or running at once
    (``--jobs``); default: the profile's ``jobs``, else 50.

``serve`` takes no ``--executor``: the server only records jobs; ``localgene worker`` runs them
and is where the executor is chosen.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from localgene.errors import InvalidRequest

ENV_EXECUTOR = "LOCALGENE_EXECUTOR"
ENV_PROFILE = "LOCALGENE_PROFILE"
ENV_JOBS = "LOCALGENE_CLUSTER_JOBS"
LOCAL = "local"
DEFAULT_JOBS = 50
#: Profile keys whose values are mappings merged entry by entry (two levels for set-*).
_MERGED_KEYS = {"default-resources": 1, "set-resources": 2, "set-threads": 1, "resources": 1}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: snakemake-executor-plugin-slurm names every SLURM job of a run after this ID.
_SLURM_RUN_ID = re.compile(r"^SLURM run ID: (\S+)$", re.M)


def plugin_module(executor: str) -> str:
    return "snakemake_executor_plugin_" + executor.replace("-", "_")


def _profile_file(folder: Path) -> Path | None:
    for name in ("config.v8+.yaml", "config.yaml"):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_profile(folder: Path, field: str) -> dict[str, Any]:
    path = _profile_file(folder)
    if path is None:
        raise InvalidRequest(f"{folder} is not a Snakemake profile (no config.yaml in it)", field=field)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidRequest(f"cannot read the profile {path}: {exc}", field=field) from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"the profile {path} must be a YAML mapping", field=field)
    return data


def merge_profiles(base: Mapping[str, Any], site: Mapping[str, Any]) -> dict[str, Any]:
    """``site`` laid over ``base``; resource mappings are merged per step and per resource."""
    out = dict(base)
    for key, value in site.items():
        depth = _MERGED_KEYS.get(key)
        if depth and isinstance(value, dict) and isinstance(out.get(key), dict):
            merged = dict(out[key])
            for k, v in value.items():
                if depth == 2 and isinstance(v, dict) and isinstance(merged.get(k), dict):
                    merged[k] = {**merged[k], **v}
                else:
                    merged[k] = v
            out[key] = merged
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Execution:
    """The resolved execution setting of a job."""

    executor: str = LOCAL
    #: localgene's own profile for the executor (``config/<executor>``), if it has one
    base_profile: Path | None = None
    #: the site's profile (``LOCALGENE_PROFILE``), laid over the base one
    site_profile: Path | None = None
    jobs: int | None = None

    @property
    def is_local(self) -> bool:
        return self.executor == LOCAL

    def profile(self) -> dict[str, Any]:
        """The merged profile (empty for local execution)."""
        if self.is_local:
            return {}
        data: dict[str, Any] = {}
        if self.base_profile is not None:
            data = _load_profile(self.base_profile, ENV_PROFILE)
        if self.site_profile is not None:
            data = merge_profiles(data, _load_profile(self.site_profile, ENV_PROFILE))
        data["executor"] = self.executor
        return data

    def snakemake_args(self, job_dir: Path, cores: int) -> list[str]:
        """What replaces ``--cores N`` in Snakemake's argv.

        Cluster runs still pass ``--cores``: it is the most threads one step may use
        (``step_threads`` in rules/common.smk) and the cores of steps run on this machine.
        """
        if self.is_local:
            return ["--cores", str(cores)]
        profile = self.profile()
        folder = Path(job_dir) / "logs" / "profile"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "config.yaml.tmp"
        tmp.write_text(
            "# Written by localgene for this job: config/" + self.executor
            + (f" with {self.site_profile} laid over it" if self.site_profile else "") + ".\n"
            + yaml.safe_dump(profile, sort_keys=False)
        )
        tmp.replace(folder / "config.yaml")
        jobs = self.jobs or int(profile.get("jobs") or DEFAULT_JOBS)
        return ["--executor", self.executor, "--profile", str(folder), "--jobs", str(jobs),
                "--cores", str(cores)]

    def env_args(self) -> list[str]:
        """Options that pass this setting on to ``python -m localgene.runner``."""
        return ["--executor", self.executor]

    def stop_leftovers(self, snakemake_log: str) -> list[str]:
        """Cancel cluster jobs of a run that Snakemake left queued or running; their ids.

        Called when Snakemake stopped without success (cancel or failure). Snakemake cancels its
        cluster jobs itself, but a job submitted just before, or in the middle of a status check
        when the interrupt came, may be missed (the executor holds its active jobs outside its
        list while it polls). For SLURM every job of a run is named after the run's ID
        ("SLURM run ID: …" in Snakemake's log): whatever ``squeue`` still shows under that name
        is ``scancel``-ed. Other executors: nothing to do here (their plugins cancel).
        """
        if self.executor != "slurm":
            return []
        left: list[str] = []
        for run_id in dict.fromkeys(_SLURM_RUN_ID.findall(snakemake_log)):
            try:
                queued = subprocess.run(["squeue", "-h", f"--name={run_id}", "-o", "%i"], capture_output=True,
                                        text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
                ids = queued.stdout.split()
                if ids:
                    subprocess.run(["scancel", *ids], capture_output=True, text=True, timeout=60, check=False,
                                   stdin=subprocess.DEVNULL)
                    left.extend(ids)
            except (OSError, subprocess.TimeoutExpired):
                continue
        return left


def resolve(executor: str | None = None, env: Mapping[str, str] | None = None,
            workflow_dir: Path | None = None) -> Execution:
    """The execution setting from ``executor`` (a CLI option) or the environment.

    Raises :class:`InvalidRequest` naming the setting for an unknown executor, a missing plugin
    or profile, or a bad job count.
    """
    env = os.environ if env is None else env
    field = "--executor" if executor else ENV_EXECUTOR
    name = (executor or env.get(ENV_EXECUTOR) or LOCAL).strip().lower()
    if name == LOCAL:
        return Execution()
    if not _NAME.match(name):
        raise InvalidRequest(f"not an executor name: {name!r} (local, slurm, ...)", field=field)
    if importlib.util.find_spec(plugin_module(name)) is None:
        raise InvalidRequest(
            f"the executor {name!r} needs the Python package snakemake-executor-plugin-{name}, "
            "which is not installed", field=field)
    if workflow_dir is None:
        from localgene.workflow import workflow_dir as find

        workflow_dir = find()
    base = workflow_dir / "config" / name
    base_profile = base if _profile_file(base) else None
    site_raw = (env.get(ENV_PROFILE) or "").strip()
    site_profile = Path(os.path.expanduser(site_raw)).absolute() if site_raw else None
    if site_profile is not None:
        if site_profile.resolve() == base.resolve():
            site_profile = None
        else:
            _load_profile(site_profile, ENV_PROFILE)  # fail now, not inside the job
    if base_profile is None and site_profile is None:
        raise InvalidRequest(f"the executor {name!r} needs a profile: add config/{name}/config.yaml "
                             f"or set {ENV_PROFILE}", field=field)
    jobs_raw = (env.get(ENV_JOBS) or "").strip()
    jobs = None
    if jobs_raw:
        if not jobs_raw.isdigit() or not 1 <= int(jobs_raw) <= 100000:
            raise InvalidRequest(f"must be a whole number from 1, got {jobs_raw!r}", field=ENV_JOBS)
        jobs = int(jobs_raw)
    return Execution(executor=name, base_profile=base_profile, site_profile=site_profile, jobs=jobs)


def add_option(parser) -> None:
    """``--executor`` for ``run`` and ``worker``."""
    parser.add_argument(
        "--executor", default=None, metavar="NAME",
        help=f"where steps run: local (default) or slurm (one cluster job per step); default: "
        f"env {ENV_EXECUTOR}. Site profile: env {ENV_PROFILE} (laid over config/<NAME>); docs/hpc.md")
