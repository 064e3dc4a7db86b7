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
``LOCALGENE_SLURM_LOST_SECONDS``
    A SLURM job that is no longer queued or running, whose end Snakemake has not read after
    this many seconds, fails the job naming the step and the SLURM job id (default 300).

For SLURM, each job first asks the cluster what it offers (localgene.run.slurm: controller,
accounting, partitions) and fails before submitting anything if it does not answer; the status
command and partition are chosen from the answers unless the profile sets them, and one line in
the job log (``localgene: SLURM: ...``) says what was found and chosen.

``serve`` takes no ``--executor``: the server only records jobs; ``localgene worker`` runs them
and is where the executor is chosen.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from localgene.errors import InvalidRequest, WorkflowFailed
from localgene.run import executors, slurm
from localgene.run.events import RunEvents
from localgene.run.executors import Executor
from localgene.run.executors.cluster import CLUSTER_JOB_SNAKEMAKE_MB, DEFAULT_JOBS
from localgene.settings import Environment

ENV_EXECUTOR = "LOCALGENE_EXECUTOR"
ENV_PROFILE = "LOCALGENE_PROFILE"
ENV_JOBS = "LOCALGENE_CLUSTER_JOBS"
ENV_LOST = slurm.ENV_LOST
LOCAL = "local"
#: Profile keys whose values are mappings merged entry by entry (two levels for set-*).
_MERGED_KEYS = {"default-resources": 1, "set-resources": 2, "set-threads": 1, "resources": 1, "groups": 1,
                "group-components": 1}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")

__all__ = ["CLUSTER_JOB_SNAKEMAKE_MB", "DEFAULT_JOBS", "Execution", "add_option", "resolve"]


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
    #: SLURM: seconds before a job whose end Snakemake never read fails the run
    lost_after: float = slurm.DEFAULT_LOST_SECONDS
    #: SLURM: the cluster's facts as a worker probed them (None: probe in this process)
    facts: slurm.ClusterFacts | None = None

    @property
    def is_local(self) -> bool:
        return self.executor == LOCAL

    @property
    def is_slurm(self) -> bool:
        return self.executor == "slurm"

    @property
    def profile_name(self) -> str:
        """Where a user puts a site setting (for messages)."""
        if self.site_profile is not None:
            return f"your site profile {self.site_profile / 'config.yaml'}"
        return f"a site profile (a folder with config.yaml, named by {ENV_PROFILE})"

    def cluster(self) -> tuple[slurm.ClusterFacts, slurm.Choice]:
        """SLURM only: the cluster's facts and the settings chosen from them (nothing submitted).

        Raises :class:`WorkflowFailed` saying what is wrong when SLURM does not answer or the
        profile asks for what the cluster cannot do.
        """
        try:
            found = slurm.facts(self.facts)
            return found, slurm.choose(self.profile(), found, self.profile_name)
        except slurm.SlurmUnavailable as exc:
            raise WorkflowFailed(f"cannot run on SLURM, nothing was submitted: {exc}") from None

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

    @property
    def backend(self) -> Executor:
        """What differs per executor (localgene.run.executors)."""
        return executors.for_name(self.executor)

    def snakemake_args(self, job_dir: Path, cores: int) -> list[str]:
        """What replaces ``--cores N`` in Snakemake's argv (local: ``--cores N``; a cluster:
        the merged profile written into the job folder, see localgene.run.executors.cluster)."""
        return self.backend.snakemake_args(self, Path(job_dir), cores)

    def env_args(self) -> list[str]:
        """Options that pass this setting on to ``python -m localgene.run.runner``."""
        args = ["--executor", self.executor]
        if self.facts is not None:
            args.append("--cluster-facts=" + self.facts.to_json())
        return args

    def for_worker(self) -> Execution:
        """This setting with the cluster probed once, for a worker to hand to its job processes
        (a cluster that does not answer now is asked again by each job)."""
        if not self.is_slurm:
            return self
        found = slurm.probe()
        return replace(self, facts=found if found.reachable else None)

    def keep_line(self, line: str) -> bool:
        """False for Snakemake output not worth keeping (SLURM: the plugin's futile account
        guess where the cluster has no accounting)."""
        return self.backend.keep_line(line)

    def watch(self, on_lost) -> slurm.LostJobWatch | None:
        """SLURM: the watch that fails a run whose job's end Snakemake never reads."""
        return self.backend.watch(self, on_lost)

    def stop_leftovers(self, events: RunEvents) -> list[str]:
        """Cancel cluster jobs of a run that Snakemake left queued or running; their ids.

        Called when Snakemake stopped without success (cancel or failure). Snakemake cancels its
        cluster jobs itself, but a job submitted just before, or in the middle of a status check
        when the interrupt came, may be missed (the executor holds its active jobs outside its
        list while it polls). For SLURM every job of a run is named after the run's ID (the
        ``executor_run`` event of the run's events): whatever ``squeue`` still shows under that
        name is ``scancel``-ed (localgene.run.executors.slurm). Other executors: nothing to do here
        (their plugins cancel).
        """
        try:
            return self.backend.stop_leftovers(events)
        except slurm.SlurmUnavailable as exc:
            raise WorkflowFailed(str(exc)) from None

    def sweep(self, events: RunEvents) -> list[str]:
        """One round of :meth:`stop_leftovers` that does not wait (while Snakemake cancels)."""
        return self.backend.sweep(events)


def resolve(executor: str | None = None, env: Mapping[str, str] | None = None,
            workflow_dir: Path | None = None) -> Execution:
    """The execution setting from ``executor`` (a CLI option) or the environment.

    Raises :class:`InvalidRequest` naming the setting for an unknown executor, a missing plugin
    or profile, or a bad job count.
    """
    raw = Environment.read(env)
    field = "--executor" if executor else ENV_EXECUTOR
    name = (executor or raw.executor or LOCAL).strip().lower()
    if name == LOCAL:
        return Execution()
    if not _NAME.match(name):
        raise InvalidRequest(f"not an executor name: {name!r} (local, slurm, ...)", field=field)
    if importlib.util.find_spec(plugin_module(name)) is None:
        raise InvalidRequest(
            f"the executor {name!r} needs the Python package snakemake-executor-plugin-{name}, "
            "which is not installed", field=field)
    if workflow_dir is None:
        from localgene.run.workflow_source import workflow_dir as find

        workflow_dir = find()
    base = workflow_dir / "config" / name
    base_profile = base if _profile_file(base) else None
    site_raw = raw.profile.strip()
    site_profile = Path(os.path.expanduser(site_raw)).absolute() if site_raw else None
    if site_profile is not None:
        if site_profile.resolve() == base.resolve():
            site_profile = None
        else:
            _load_profile(site_profile, ENV_PROFILE)  # fail now, not inside the job
    if base_profile is None and site_profile is None:
        raise InvalidRequest(f"the executor {name!r} needs a profile: add config/{name}/config.yaml "
                             f"or set {ENV_PROFILE}", field=field)
    jobs_raw = raw.cluster_jobs.strip()
    jobs = None
    if jobs_raw:
        if not jobs_raw.isdigit() or not 1 <= int(jobs_raw) <= 100000:
            raise InvalidRequest(f"must be a whole number from 1, got {jobs_raw!r}", field=ENV_JOBS)
        jobs = int(jobs_raw)
    lost_raw = raw.slurm_lost_seconds.strip()
    lost_after = slurm.DEFAULT_LOST_SECONDS
    if lost_raw:
        try:
            lost_after = float(lost_raw)
        except ValueError:
            lost_after = -1.0
        if not 1 <= lost_after <= 7 * 86400:
            raise InvalidRequest(f"must be a number of seconds from 1 to 604800, got {lost_raw!r}", field=ENV_LOST)
    return Execution(executor=name, base_profile=base_profile, site_profile=site_profile, jobs=jobs,
                     lost_after=lost_after)


def add_option(parser) -> None:
    """``--executor`` for ``run`` and ``worker``."""
    parser.add_argument(
        "--executor", default=None, metavar="NAME",
        help=f"where steps run: local (default) or slurm (one cluster job per step); default: "
        f"env {ENV_EXECUTOR}. Site profile: env {ENV_PROFILE} (laid over config/<NAME>); docs/hpc.md")


#: The workflow's steps run on the cluster, and what one instance of each is per job: once, per
#: BAM (coverage writes its target and antitarget tables) or per experimental sample.
#: localgene's own small rules (inputs, summary, report, delivery) stay on the submitting machine.
CLUSTER_STEPS: dict[str, str] = {
    "access": "once", "target": "once", "antitarget": "once", "coverage": "per BAM",
    "reference": "once", "sex": "once", "fix": "per sample", "segment": "per sample", "call": "per sample",
    "genemetrics": "per sample", "scatter": "per sample", "diagram": "per sample", "metrics": "once",
    "segment_check": "once",
}


class _Input:
    """What a profile expression may read of a step's input (``input.size_mb``)."""

    def __init__(self, size_mb: float):
        self.size_mb = size_mb


def _evaluate(value: Any, size_mb: float, threads: int) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return eval(value, {"__builtins__": {"min": min, "max": max, "int": int, "round": round}},  # noqa: S307
                    {"input": _Input(size_mb), "threads": threads, "attempt": 1})
    except Exception:  # noqa: BLE001 - a plain string resource (a partition name, flags)
        return value


def step_requests(execution: Execution, plan, cores: int, profile: Mapping[str, Any] | None = None
                  ) -> list[dict[str, Any]]:
    """What each cluster step of ``plan`` asks SLURM for (first attempt), from the merged profile:
    ``default-resources`` with the step's ``set-resources`` over it, expressions evaluated with
    the step's input size (coverage: its BAM), threads from the plan, and its group."""
    profile = execution.profile() if profile is None else profile
    defaults = profile.get("default-resources") or {}
    per_step = profile.get("set-resources") or {}
    groups = profile.get("groups") or {}
    bams: dict[str, float] = {}
    for sample, location in plan.samples.items():
        try:
            bams[sample] = Path(location).stat().st_size / 1e6
        except OSError:
            bams[sample] = 0.0
    rows = []
    for step, kind in CLUSTER_STEPS.items():
        threads = plan.threads(step, cores) if step in plan.options.steps else 1
        if kind == "per BAM":
            instances = [(f"sample={s}", bams[s]) for s in plan.samples]
        elif kind == "per sample":
            instances = [(f"sample={s}", 0.0) for s in plan.experimental]
        else:
            instances = [("", 0.0)]
        for wildcards, size_mb in instances:
            merged = {**defaults, **(per_step.get(step) or {})}
            row = {"step": step, "wildcards": wildcards, "threads": threads, "group": groups.get(step)}
            row.update({k: _evaluate(v, size_mb, threads) for k, v in merged.items()})
            rows.append(row)
    return rows
