"""A cluster executor: any Snakemake executor plugin, driven by the job's merged profile.

Each step runs as a job of the cluster; localgene writes the merged profile (its own
``config/<executor>`` with the site's laid over it) into ``logs/profile/config.yaml`` of the job
folder and hands Snakemake ``--executor X --profile <that folder> --jobs N``. The plugin cancels
its own jobs: nothing is left to clean up here (SLURM: localgene.run.executors.slurm does more).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from localgene import fileio

#: Memory a step's cluster job needs besides the step (``mem_mb`` of pipeline rules adds it on a
#: cluster executor): the job's Snakemake (measured 123-133 MB in the batch step on the test
#: cluster) and the Snakemake of its ``srun`` step, where the step's ``run:`` block or script
#: runs, both counted against the job's limit. 600 MB is the margin a DNA job was run to the end
#: with on the test cluster, where the steps' own figures alone were killed.
CLUSTER_JOB_SNAKEMAKE_MB = 600
#: Cluster jobs of one localgene job queued or running at once, unless the profile says.
DEFAULT_JOBS = 50


class ClusterExecutor:
    job_overhead_mb = CLUSTER_JOB_SNAKEMAKE_MB

    def profile(self, execution, job_dir: Path) -> dict[str, Any]:
        """The profile the job runs with (the merged one; SLURM adds what it chose)."""
        return execution.profile()

    def snakemake_args(self, execution, job_dir: Path, cores: int) -> list[str]:
        """Cluster runs still pass ``--cores``: it is the most threads one step may use
        (``step_threads`` in rules/common.smk) and the cores of steps run on this machine."""
        folder = Path(job_dir) / "logs" / "profile"
        folder.mkdir(parents=True, exist_ok=True)
        profile = self.profile(execution, job_dir)
        fileio.atomic_write_text(
            folder / "config.yaml",
            "# Written by localgene for this job: config/" + execution.executor
            + (f" with {execution.site_profile} laid over it" if execution.site_profile else "") + ".\n"
            + yaml.safe_dump(profile, sort_keys=False),
        )
        jobs = execution.jobs or int(profile.get("jobs") or DEFAULT_JOBS)
        return ["--executor", execution.executor, "--profile", str(folder), "--jobs", str(jobs),
                "--cores", str(cores)]

    def keep_line(self, line: str) -> bool:
        return True

    def watch(self, execution, on_lost):
        return None

    def stop_leftovers(self, events) -> list[str]:
        return []

    def sweep(self, events) -> list[str]:
        return []
