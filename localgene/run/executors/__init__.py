"""Where a job's steps run, one module per executor behind :class:`Executor`.

* :mod:`.local`: Snakemake runs the steps on this machine (``--cores N``).
* :mod:`.cluster`: any Snakemake executor plugin driven by a profile (``--executor X --profile``).
* :mod:`.slurm`: the cluster executor for snakemake-executor-plugin-slurm, with the cluster
  probe, the lost-job watch, the cleanup of jobs a stopped run left queued and the SLURM side
  of failure messages.

localgene.run.execution resolves the setting (:class:`~localgene.run.execution.Execution`) and
delegates what differs per executor to :func:`for_name`'s object.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from localgene.run.events import RunEvents
    from localgene.run.execution import Execution
    from localgene.run.slurm import LostJobWatch


class Executor(Protocol):
    #: Memory (MB) a step's job needs besides the step itself (0: steps run inside this Snakemake)
    job_overhead_mb: int

    def snakemake_args(self, execution: Execution, job_dir: Path, cores: int) -> list[str]:
        """What replaces ``--cores N`` in Snakemake's argv."""

    def keep_line(self, line: str) -> bool:
        """False for a line of Snakemake's output not worth keeping in the job log."""

    def watch(self, execution: Execution, on_lost: Callable[[str], None]) -> LostJobWatch | None:
        """What watches the run's events for jobs the executor lost (None: nothing to watch)."""

    def stop_leftovers(self, events: RunEvents) -> list[str]:
        """Cancel what a stopped run left queued or running and wait for it; the ids."""

    def sweep(self, events: RunEvents) -> list[str]:
        """One round of :meth:`stop_leftovers` without waiting (during a cancel)."""


def for_name(name: str) -> Executor:
    from localgene.run.executors import cluster, local, slurm

    if name == local.NAME:
        return local.LocalExecutor()
    if name == slurm.NAME:
        return slurm.SlurmExecutor()
    return cluster.ClusterExecutor()
