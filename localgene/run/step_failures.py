"""Which step of a run failed and why, in one sentence without a traceback.

Read from the run's events (localgene.run.events: the failed step's rule, jobid, wildcards and
log files, the failed group job and its steps), then from the step's own log (the exception,
the ``error:`` line). A step that ran as a SLURM job is explained by the SLURM executor
(localgene.run.executors.slurm: killed for memory or time, sbatch refusals, group jobs). A run
without events (a job folder of an older localgene) is read from its text log instead
(localgene.run.snakemake_text), as is the Snakemake inside a SLURM group job (its SLURM log).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localgene.run import events as run_events
from localgene.run.events import RunEvents
from localgene.run.executors import slurm as slurm_executor
from localgene.run.snakemake_text import events_from_text


def failure_message(snakemake_log: Path, job_dir: Path, events: RunEvents | None = None) -> str:
    """Which step failed and why, from the run's events (``events``, else those of the job
    folder's last run; without any: Snakemake's text log) and the step's own log."""
    if events is None:
        events = run_events.read(job_dir)
    text = _read(snakemake_log)
    if events is None or not events.count:
        events = RunEvents().extend(events_from_text(text))
        errors_text = text
    else:
        errors_text = "\n".join(str(e.get("message") or "") for e in events.errors) or text
    return explain(events, job_dir, errors_text)


def text_failure_message(log: Path, job_dir: Path) -> str:
    """The same, from a text log only (the Snakemake inside a SLURM group job)."""
    text = _read(log)
    return explain(RunEvents().extend(events_from_text(text)), job_dir, text)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def explain(events: RunEvents, job_dir: Path, errors_text: str) -> str:
    """The failure message of a run whose events are ``events``; ``errors_text`` is what
    Snakemake said about errors of its own (for a run that could not start)."""
    if not events.job_errors and events.group_errors:
        return group_failure(events.group_errors[-1], events, job_dir)
    if not events.job_errors:
        # Snakemake itself stopped (e.g. the config was refused while parsing the workflow).
        rows = errors_text.splitlines()
        meaningful = [r.strip() for r in rows if r.strip() and not r.startswith(("  File", "    "))]
        reason = next(
            (r for r in reversed(meaningful) if "Error" in r or "error" in r), meaningful[-1] if meaningful else ""
        )
        return f"the workflow could not start: {reason}"
    error = events.job_errors[-1]
    wildcards = run_events.wildcards_text(error.get("wildcards")) or events.wildcards(error.get("jobid"))
    where = f"step '{error['rule']}'" + (f" ({wildcards})" if wildcards else "")
    step_logs = [str(p) for p in error.get("log") or ()]
    message = str(error.get("message") or "")
    if hint := slurm_executor.sbatch_refusal(message, job_dir):
        return f"{where} was not submitted: {hint}"
    if state := slurm_executor.failed_state(message):
        jobid = str(error.get("aux", {}).get("external_jobid") or state[0])
        killed = slurm_executor.kill_reason(state[1], [job_dir / p for p in step_logs])
        slurm_logs = [p for p in step_logs if slurm_executor.is_slurm_log(p)]
        where_log = relative(slurm_logs[0], job_dir) if slurm_logs else None
        if killed:
            return f"{where} was killed by SLURM: {killed} [SLURM job {jobid}" + (
                f"; log: {where_log}]" if where_log else "]")
        step_logs = [p for p in step_logs if not slurm_executor.is_slurm_log(p)] + slurm_logs
        if state[1] != "FAILED":
            return f"{where} failed: SLURM job {jobid} ended {state[1]}" + (
                f" [log: {where_log}]" if where_log else "")
    return step_failure(where, step_logs, job_dir)


def group_failure(group: dict[str, Any], events: RunEvents, job_dir: Path) -> str:
    """Which step of a failed group job (several steps in one SLURM job) failed and why.

    The group_error event names the group, its steps and the job's SLURM log, not the SLURM
    state; the SLURM log holds slurmstepd's kill or cancel line and the inner Snakemake's own
    "Error in rule <step>:" block with the step's log (text: that Snakemake runs without
    localgene's logger plugin).
    """
    name = group["group"]
    logs = [str(p) for p in group.get("log") or ()]
    slurm_logs = [job_dir / p for p in logs if slurm_executor.is_slurm_log(p)]
    text = ""
    for path in slurm_logs:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
    state = slurm_executor.failed_state(str(group.get("message") or ""))
    jobid = str(group.get("aux", {}).get("external_jobid") or "") or (state[0] if state else None) or next(
        (Path(p).stem for p in logs if slurm_executor.is_slurm_log(p) and Path(p).stem.isdigit()), None)
    status = state[1] if state else ("CANCELLED" if slurm_executor.cancelled(text) else "FAILED")
    members = group_members(group, events)
    where, inner = f"group '{name}'" + (f" ({members})" if members not in ("", name) else ""), None
    inner_events = RunEvents().extend(events_from_text(text)) if slurm_logs else RunEvents()
    if inner_events.job_errors:
        inner = text_failure_message(slurm_logs[0], job_dir)
        error = inner_events.job_errors[-1]
        wildcards = run_events.wildcards_text(error.get("wildcards")) or inner_events.wildcards(error.get("jobid"))
        where = f"step '{error['rule']}'" + (f" ({wildcards})" if wildcards else "")
    ref = f"SLURM job {jobid}" if jobid else "its SLURM job"
    where_log = relative(str(slurm_logs[0]), job_dir) if slurm_logs else None
    if killed := slurm_executor.kill_reason(status, slurm_logs):
        return f"{where} was killed by SLURM: {killed} [{ref}" + (f"; log: {where_log}]" if where_log else "]")
    if status != "FAILED":
        return f"{where} failed: {ref} ended {status}" + (f" [log: {where_log}]" if where_log else "")
    if inner:
        return f"{inner} [{ref}" + (f"; log: {where_log}]" if where_log else "]")
    return f"{where} failed: {ref} ended {status}" + (f" [log: {where_log}]" if where_log else "")


def step_failure(where: str, step_logs: Sequence[str], job_dir: Path) -> str:
    """``<where> failed: <reason> [log: <the log that says it>]``."""
    reason, reason_log = "", step_logs[0] if step_logs else None
    for step_log in step_logs:  # the log that says what went wrong, else the first with output
        tail = _tail(job_dir / step_log)
        if tail and (not reason or _says_failed(job_dir / step_log)):
            reason, reason_log = tail, step_log
        if reason and _says_failed(job_dir / step_log):
            break
    return f"{where} failed: {reason or 'no log output'}" + (
        f" [log: {reason_log}]" if reason_log else ""
    )


def _says_failed(path: Path) -> bool:
    """A step log that reports an error (a traceback, an ``error:`` line, a full disk)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return ("Traceback (most recent call last)" in text or "No space left on device" in text
            or any(r.startswith("error: ") for r in text.splitlines()))


def _tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    rows = [r.rstrip() for r in text.splitlines() if r.strip()]
    errors = [r for r in rows if r.startswith("error: ")]
    if errors:
        return errors[-1][len("error: ") :]
    if any(r.startswith("Traceback (most recent call last)") for r in rows):
        # Keep only the exception line(s) after the last traceback frame.
        last = max(i for i, r in enumerate(rows) if r.startswith("Traceback"))
        after = [r for r in rows[last + 1 :] if not r.startswith(" ")]
        return " ".join(after[-2:]) if after else rows[-1]
    return " | ".join(r for r in rows[-lines:] if not r.startswith("$ "))


def relative(path: str, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path


def group_members(group: dict[str, Any], events: RunEvents) -> str:
    """The steps of a group job: "coverage for sample=T1, sample=T2" (one entry per step, its
    wildcards when the run's events have them)."""
    steps: dict[str, list[str]] = {}
    for job in group.get("jobs") or ():
        found = steps.setdefault(str(job["rule"]), [])
        if wildcards := events.wildcards(job.get("jobid")):
            found.append(wildcards)
    return "; ".join(f"{r} for {', '.join(w)}" if w else r for r, w in steps.items())
