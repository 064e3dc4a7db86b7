"""Running the Snakemake workflow for one job (CNVkit or a pipeline), in its own folder, as a child process.

Snakemake runs as ``python -m snakemake`` in a separate process (it changes the working
directory and installs signal handlers, so it never runs inside a server thread). Its output
goes to ``<job folder>/logs/snakemake.log``; the ``k of n steps`` lines are read as they come
to report progress, and when a step fails its own log is read to say which step failed and
why, without a Python traceback.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localgene.errors import InvalidRequest, LocalgeneError, WorkflowFailed
from localgene.execution import Execution
from localgene.plan import Plan, build_plan, check_environment, check_local_files

PATH_FIELDS = ("ref", "bed", "annotation_file", "output_dir")
LIST_PATH_FIELDS = ("experimental_inputs", "control_inputs")

_PROGRESS = re.compile(r"^(\d+) of (\d+) steps \(")
_TOTAL = re.compile(r"^total\s+(\d+)")
_ERROR_RULE = re.compile(r"^Error in rule (\S+?):")
_LOG_LINE = re.compile(r"^\s+log: (.+?)(?: \(check log file\(s\) for error details\))?$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.+)$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
# A step run as a SLURM job (snakemake-executor-plugin-slurm) that did not complete.
_SLURM_FAILED = re.compile(r"^\s+message: SLURM-job '(\d+)' failed, SLURM status is: '(\w+)'")
# What slurmstepd writes into the job's SLURM log when it kills a step.
_SLURM_MEMORY = re.compile(r"exceeded memory limit \((\d+) > (\d+)\)")
_SLURM_OOM = re.compile(r"oom[_-]kill|out of memory|Exceeded job memory limit", re.I)
_SLURM_TIME = re.compile(r"DUE TO TIME LIMIT")

ProgressCallback = Callable[[int, int], None]


class WorkflowCancelled(LocalgeneError):
    """The workflow stopped because it was interrupted (cancel or Ctrl-C)."""

    code = "DLI.0409"
    http_status = 409


def workflow_dir() -> Path:
    """The folder holding ``Snakefile``, ``rules/``, ``config/`` and ``envs/``."""
    override = os.environ.get("LOCALGENE_WORKFLOW_DIR")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parent.parent)
    for folder in candidates:
        if (folder / "Snakefile").is_file():
            return folder
    raise LocalgeneError(
        "cannot find the localgene Snakefile; install localgene from its checkout "
        "(pip install -e .) or set LOCALGENE_WORKFLOW_DIR"
    )


def absolute_paths(body: dict[str, Any], base: Path) -> dict[str, Any]:
    """Plain relative paths in a body made absolute against ``base`` (URLs left as they are;
    in a pipeline body, registry names too)."""
    if "job_type" in body:
        from localgene.pipeline_inputs import absolute_paths as pipeline_absolute

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
                         instance_id: str | None, index_cache: str | os.PathLike | None = None) -> None:
    """Write a pipeline job's ``config.json``: ``body`` (already holding local paths) plus
    ``instance_id`` and ``index_cache`` (the shared aligner-index folder; docs/pipelines.md)."""
    from localgene.schema import parse_pipeline_body

    parsed = parse_pipeline_body(body)
    pipeline_snakefile(parsed.job_type)
    if index_cache is None:
        from localgene import index_cache as index_cache_mod
        from localgene import settings

        index_cache = settings.load().cache_dir / index_cache_mod.SUBDIR
    config = dict(body)
    if instance_id:
        config["instance_id"] = instance_id
    config["index_cache"] = str(Path(index_cache).absolute())
    _write_config(Path(job_dir), config)


def _write_config(job_dir: Path, config: dict[str, Any]) -> None:
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    tmp = job_dir / "config.json.tmp"
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    tmp.replace(job_dir / "config.json")


def prepare_job(
    body: dict[str, Any], job_dir: str | os.PathLike, *, instance_id: str | None, cores: int,
    index_cache: str | os.PathLike | None = None,
) -> Plan | None:
    """Check a job completely and write ``config.json`` into its folder; nothing runs yet.

    A body with ``job_type`` is a pipeline job (:func:`prepare_pipeline_job`; returns None);
    any other is a CNVkit job (returns its plan). Raises a
    :class:`~localgene.errors.LocalgeneError` naming the field for any problem.
    """
    if "job_type" in body:
        prepare_pipeline_job(body, job_dir, instance_id=instance_id, index_cache=index_cache)
        return None
    from localgene.schema import parse_cnvkit_body

    parse_cnvkit_body(body)
    config = dict(body)
    if instance_id:
        config["instance_id"] = instance_id
    from localgene.coverage_cache import config_entry  # shared control coverage: docs/batches.md
    config.update(config_entry())
    plan = build_plan(config, cores=cores)
    check_environment(plan)
    check_local_files(plan)
    _write_config(Path(job_dir), config)
    return plan


@dataclass
class RunResult:
    done: int
    total: int
    log: Path


def snakemake_argv(job_dir: Path, cores: int, extra: Sequence[str] = (),
                   execution: Execution | None = None) -> list[str]:
    """Snakemake's argv for a job; ``execution`` (default: local) decides where steps run."""
    wf = workflow_dir()
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(wf / "Snakefile"),
        "--directory",
        str(job_dir),
        "--configfile",
        str(job_dir / "config.json"),
        *(execution or Execution()).snakemake_args(job_dir, cores),
        "--rerun-incomplete",
        *extra,
    ]


def run_workflow(
    job_dir: str | os.PathLike,
    *,
    cores: int,
    on_progress: ProgressCallback | None = None,
    extra_args: Sequence[str] = (),
    execution: Execution | None = None,
) -> RunResult:
    """Run the prepared job in ``job_dir`` to the end; raise WorkflowFailed naming the step."""
    job_dir = Path(job_dir).resolve()
    log_path = job_dir / "logs" / "snakemake.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    done = total = 0
    interrupted = False
    with open(log_path, "a") as log:
        proc = subprocess.Popen(
            snakemake_argv(job_dir, cores, extra_args, execution),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            cwd=job_dir,
            env=env,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if m := _TOTAL.match(line.strip()):
                    total = max(total, int(m.group(1)))
                    if on_progress and done == 0:
                        on_progress(done, total)
                elif m := _PROGRESS.match(line.strip()):
                    done, total = int(m.group(1)), int(m.group(2))
                    if on_progress:
                        on_progress(done, total)
            code = proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            code = _wait_after_interrupt(proc, log)
        if code != 0:
            left = (execution or Execution()).stop_leftovers(log_path.read_text(errors="replace"))
            if left:
                log.write(f"localgene: cancelled cluster jobs Snakemake left behind: {' '.join(left)}\n")
    if interrupted or code in (-signal.SIGINT, -signal.SIGTERM, 130):
        raise WorkflowCancelled(f"the workflow was interrupted after {done}/{total} steps")
    if code != 0:
        raise WorkflowFailed(failure_message(log_path, job_dir))
    return RunResult(done=done, total=total, log=log_path)


#: How long Snakemake may take to react to an interrupt before it is sent one of its own.
INTERRUPT_GRACE_SECONDS = 3.0


def _wait_after_interrupt(proc: subprocess.Popen, log) -> int:
    """Wait for Snakemake to stop after this process was interrupted; its exit code.

    A Ctrl-C or a worker's cancel signals the whole process group, Snakemake included, and
    Snakemake then cancels its running steps (``scancel`` on a cluster). A second SIGINT while
    it does so would cut that short, so one is forwarded only when Snakemake is still running
    after INTERRUPT_GRACE_SECONDS (this process alone was signalled). Its output keeps going to
    the log meanwhile (a full pipe would block it).
    """
    drain = threading.Thread(target=lambda: [log.write(line) for line in proc.stdout], daemon=True)
    drain.start()
    deadline = time.monotonic() + INTERRUPT_GRACE_SECONDS
    forwarded = False
    while True:
        try:
            code = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if not forwarded and time.monotonic() > deadline:
                proc.send_signal(signal.SIGINT)
                forwarded = True
        except KeyboardInterrupt:
            continue  # pressed again: Snakemake got that one too; keep waiting for it
    drain.join(timeout=5)
    log.flush()
    return code


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


def failure_message(snakemake_log: Path, job_dir: Path) -> str:
    """Which step failed and why, from Snakemake's log and the step's own log."""
    rows = snakemake_log.read_text(errors="replace").splitlines()
    rule = wildcards = slurm = None
    step_logs: list[str] = []
    job_wildcards: dict[str, str] = {}  # jobid -> wildcards, from the blocks that start jobs
    jobid = None
    for row in rows:
        if m := _JOBID.match(row):
            jobid = m.group(1)
        elif (w := _WILDCARDS.match(row)) and jobid is not None:
            job_wildcards.setdefault(jobid, w.group(1))
    for i, row in enumerate(rows):
        if m := _ERROR_RULE.match(row):
            rule, wildcards, step_logs, slurm = m.group(1), None, [], None
            for follow in rows[i + 1 : i + 15]:
                if follow.strip() and not follow[0].isspace():
                    break  # the error block (indented lines) has ended; another job's block may follow
                if sf := _SLURM_FAILED.match(follow):
                    slurm = (sf.group(1), sf.group(2))
                if j := _JOBID.match(follow):
                    wildcards = job_wildcards.get(j.group(1))
                if w := _WILDCARDS.match(follow):
                    wildcards = w.group(1)
                if lg := _LOG_LINE.match(follow):
                    step_logs = [p.strip() for p in lg.group(1).split(",")]
    if rule is None:
        # Snakemake itself stopped (e.g. the config was refused while parsing the workflow).
        meaningful = [r.strip() for r in rows if r.strip() and not r.startswith(("  File", "    "))]
        reason = next(
            (r for r in reversed(meaningful) if "Error" in r or "error" in r), meaningful[-1] if meaningful else ""
        )
        return f"the workflow could not start: {reason}"
    where = f"step '{rule}'" + (f" ({wildcards})" if wildcards else "")
    if slurm is not None:
        killed = _slurm_kill(slurm[1], [job_dir / p for p in step_logs])
        slurm_logs = [p for p in step_logs if "slurm_logs" in p]
        where_log = _relative(slurm_logs[0], job_dir) if slurm_logs else None
        if killed:
            return f"{where} was killed by SLURM: {killed} [SLURM job {slurm[0]}" + (
                f"; log: {where_log}]" if where_log else "]")
        step_logs = [p for p in step_logs if "slurm_logs" not in p] + slurm_logs
        if slurm[1] != "FAILED":
            return f"{where} failed: SLURM job {slurm[0]} ended {slurm[1]}" + (
                f" [log: {where_log}]" if where_log else "")
    reason = ""
    for step_log in step_logs:
        reason = _tail(job_dir / step_log)
        if reason:
            break
    return f"{where} failed: {reason or 'no log output'}" + (
        f" [log: {step_logs[0]}]" if step_logs else ""
    )


def _relative(path: str, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path


def _slurm_kill(state: str, logs: Sequence[Path]) -> str | None:
    """Why SLURM killed a step ("out of memory (...)", "time limit"), or None if it did not.

    The state comes from Snakemake's message; the figures from slurmstepd's lines in the logs.
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
