"""The SLURM executor (snakemake-executor-plugin-slurm): what localgene adds around the plugin.

* :func:`failed_state`, :func:`kill_reason`, :func:`sbatch_refusal`, :func:`cancelled`: the
  SLURM side of a failure message (localgene.run.step_failures composes the sentence).
* :func:`leftovers` / :func:`sweep`: the cluster jobs of a run still queued after Snakemake
  stopped, found by the run IDs of the run's events (localgene.run.slurm does the squeue/scancel).

The cluster probe, profile choices and the lost-job watch are in localgene.run.slurm.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from localgene.run import slurm
from localgene.run.events import RunEvents
from localgene.run.executors.cluster import ClusterExecutor

NAME = "slurm"


class SlurmExecutor(ClusterExecutor):
    def profile(self, execution, job_dir: Path) -> dict:
        """The merged profile with the status command and partition chosen from the cluster's
        facts (localgene.run.slurm.choose); the choice is the job log's ``localgene: SLURM:`` line."""
        _, choice = execution.cluster()
        with open(Path(job_dir) / "logs" / "snakemake.log", "a") as log:
            log.write(choice.line + "\n")
        return choice.profile

    def keep_line(self, line: str) -> bool:
        """Not the plugin's futile account guess where the cluster has no accounting (the
        ``localgene: SLURM:`` line says so once)."""
        return not (slurm.no_accounting() and slurm.is_account_guess_noise(line))

    def watch(self, execution, on_lost) -> slurm.LostJobWatch:
        """The watch that fails a run whose job's end Snakemake never reads."""
        return slurm.LostJobWatch(bound=execution.lost_after, on_lost=on_lost,
                                  every=min(10.0, max(0.5, execution.lost_after / 10)))

    def stop_leftovers(self, events: RunEvents) -> list[str]:
        return leftovers(events)

    def sweep(self, events: RunEvents) -> list[str]:
        return sweep(events)

# The plugin reports a SLURM job that did not complete only in the message text of the step's
# job_error event ("SLURM-job '52' failed, SLURM status is: 'OUT_OF_MEMORY'"): read from it.
_SLURM_FAILED = re.compile(r"^SLURM-job '(\d+)' failed, SLURM status is: '(\w+)'")
# What slurmstepd writes into the job's SLURM log when it kills or cancels a step (only there,
# as text: neither Snakemake nor the plugin reports it as an event).
_SLURM_MEMORY = re.compile(r"exceeded memory limit \((\d+) > (\d+)\)")
_SLURM_OOM = re.compile(r"oom[_-]kill|out of memory|Exceeded job memory limit", re.I)
_SLURM_TIME = re.compile(r"DUE TO TIME LIMIT")
_SLURM_CANCELLED = re.compile(r"\*\*\* JOB \d+ ON \S+ CANCELLED AT (?!.*DUE TO TIME LIMIT)")


def is_slurm_log(path: str) -> bool:
    """A SLURM job's own log (the plugin writes them under ``.snakemake/slurm_logs``)."""
    return "slurm_logs" in str(path)


def failed_state(message: str) -> tuple[str, str] | None:
    """(SLURM job id, final state) from the plugin's message about a job that did not complete."""
    m = _SLURM_FAILED.match(message.strip())
    return (m.group(1), m.group(2)) if m else None


def cancelled(slurm_log_text: str) -> bool:
    """slurmstepd says the job was cancelled (not for its time limit)."""
    return bool(_SLURM_CANCELLED.search(slurm_log_text))


def kill_reason(state: str, logs: Sequence[Path]) -> str | None:
    """Why SLURM killed a step ("out of memory (...)", "time limit"), or None if it did not.

    The state comes from the plugin's message; the figures from slurmstepd's lines in the logs.
    """
    text = ""
    for path in logs:
        try:
            text += path.read_text(errors="replace") + "\n"
        except OSError:
            continue
    if state == "TIMEOUT" or _SLURM_TIME.search(text):
        return "time limit reached (the step's runtime resource)"
    if m := _SLURM_MEMORY.search(text):
        used, limit = (int(v) // (1 << 20) for v in m.groups())
        return f"out of memory ({used} MB > {limit} MB limit; raise the step's mem_mb)"
    if state == "OUT_OF_MEMORY" or _SLURM_OOM.search(text):
        return "out of memory (raise the step's mem_mb)"
    if state in ("NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"):
        return f"SLURM state {state}"
    return None


def sbatch_refusal(message: str, job_dir: Path) -> str | None:
    """What to do about the ``sbatch`` refusal a step's error message reports, if it does."""
    if "SLURM sbatch failed" not in message:
        return None
    return slurm.refusal(message, profile_name(job_dir))


def profile_name(job_dir: Path) -> str:
    """The site profile a job used, from the header of its merged profile (for messages)."""
    try:
        header = (job_dir / "logs" / "profile" / "config.yaml").read_text().splitlines()[0]
    except (OSError, IndexError):
        header = ""
    suffix = " laid over it."
    if " with " in header and header.endswith(suffix):
        return f"your site profile {header[: -len(suffix)].split(' with ', 1)[1]}/config.yaml"
    return "a site profile (a folder with config.yaml, named by LOCALGENE_PROFILE)"


def leftovers(events: RunEvents) -> list[str]:
    """scancel what the run left queued or running and wait until squeue shows none; the ids.

    Raises :class:`localgene.run.slurm.SlurmUnavailable` if jobs are still there after the bound.
    """
    return slurm.cancel_run(events.run_ids)


def sweep(events: RunEvents) -> list[str]:
    """One round of :func:`leftovers` without waiting (while Snakemake still cancels)."""
    left: list[str] = []
    for run_id in events.run_ids:
        ids = slurm.queued(run_id) or []
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=60, check=False,
                           stdin=subprocess.DEVNULL)
            left.extend(ids)
    return left
