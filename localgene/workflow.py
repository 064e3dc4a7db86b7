"""Running the Snakemake workflow for one job (CNVkit or a pipeline), in its own folder, as a child process.

Snakemake runs as ``python -m snakemake`` in a separate process (it changes the working
directory and installs signal handlers, so it never runs inside a server thread). Its output
goes to ``<job folder>/logs/snakemake.log``; the ``k of n steps`` lines are read as they come
to report progress, and when a step fails its own log is read to say which step failed and
why, without a Python traceback.
"""

from __future__ import annotations

import contextlib
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

from localgene import cnvkit_server, fileio
from localgene.errors import InvalidRequest, LocalgeneError, WorkflowFailed
from localgene.execution import Execution
from localgene.options import SNAPSHOT_PATH, save_snapshot
from localgene.plan import Plan, build_plan, check_environment, check_local_files
from localgene.signals import group_members, signal_members, signal_name
from localgene.slurm import refusal

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


#: Where a built package (wheel) keeps the workflow: the repository's Snakefile, rules/, config/
#: and envs/ are mapped there at build time (pyproject.toml, [tool.hatch.build.targets.wheel]).
PACKAGED_WORKFLOW = "workflow_files"


def workflow_dir() -> Path:
    """The folder holding ``Snakefile``, ``rules/``, ``config/`` and ``envs/``.

    In order: ``$LOCALGENE_WORKFLOW_DIR``; the checkout this package runs from (an editable
    install); the copy shipped inside the installed package (``localgene/workflow_files/``).
    """
    from importlib import resources

    override = os.environ.get("LOCALGENE_WORKFLOW_DIR")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parent.parent)
    candidates.append(Path(str(resources.files("localgene") / PACKAGED_WORKFLOW)))
    for folder in candidates:
        if (folder / "Snakefile").is_file():
            return folder
    raise LocalgeneError(
        "cannot find the localgene Snakefile: this installation lacks localgene/"
        f"{PACKAGED_WORKFLOW}/ (reinstall localgene) or set LOCALGENE_WORKFLOW_DIR"
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
    fileio.atomic_write_json(job_dir / "config.json", config)


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
    from localgene.options import check_options_cached

    plan = build_plan(config, cores=cores, options=check_options_cached(config, cores=cores))
    check_environment(plan)
    check_local_files(plan)
    job_dir = Path(job_dir)
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    try:  # Snakemake reads what was checked here instead of importing CNVkit again
        save_snapshot(plan.options, config, job_dir / SNAPSHOT_PATH)
    except OSError:
        pass  # it then checks the options itself
    _write_config(job_dir, config)
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
    """Run the prepared job in ``job_dir`` to the end; raise WorkflowFailed naming the step.

    A stop signal (SIGINT, or SIGTERM/SIGHUP turned into :class:`~localgene.signals.Stopped`
    by the entry point) cancels the run: see :func:`_stop_after_interrupt`; it raises
    WorkflowCancelled only once no process and no cluster job of the run is left.
    """
    job_dir = Path(job_dir).resolve()
    execution = execution or Execution()
    log_path = job_dir / "logs" / "snakemake.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    done = total = 0
    interrupted: BaseException | None = None
    lost: list[str] = []
    # Snakemake shares this process's group when this process leads it (a worker's job process,
    # a terminal's job), so a group signal reaches every process of the job; otherwise (started
    # by a script or a test) it gets a group of its own, so that this process never signals a
    # group it does not own.
    own_group = os.getpgrp() == os.getpid()
    # CNVkit imported once for the job's steps (docs/speed.md); None: each step is a process
    # (pipeline jobs run no CNVkit step: no server for them)
    server = None if _is_pipeline_job(job_dir) else cnvkit_server.start(
        job_dir, env, local=execution.is_local, snakemake_args=extra_args)
    with open(log_path, "a") as log, _stopped_at_end(server):
        argv = snakemake_argv(job_dir, cores, extra_args, execution)
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            cwd=job_dir,
            env=env,
            process_group=None if own_group else 0,
            preexec_fn=_ignore_sighup,
        )
        pgid = os.getpgrp() if own_group else proc.pid

        def on_lost(message: str) -> None:
            lost.append(message)
            log.write(f"localgene: {message}; stopping the run\n")
            _send(proc, signal.SIGINT)

        watch = execution.watch(on_lost)
        if watch is not None:
            watch.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if watch is not None:
                    watch.feed(line)
                if not execution.keep_line(line):
                    continue
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
        except KeyboardInterrupt as exc:
            interrupted = exc
            code = _stop_after_interrupt(proc, log, signal_name(exc), pgid=pgid, own_group=own_group,
                                         execution=execution, log_path=log_path,
                                         stop_steps=server.interrupt if server else None)
        finally:
            if watch is not None:
                watch.stop()
        if code != 0 and interrupted is None:
            left = execution.stop_leftovers(log_path.read_text(errors="replace"))
            if left:
                log.write(f"localgene: cancelled cluster jobs Snakemake left behind: {' '.join(left)}\n")
    if lost:
        raise WorkflowFailed(lost[0])
    if interrupted is not None or code in (-signal.SIGINT, -signal.SIGTERM, 130):
        how = "" if interrupted is None else f" ({signal_name(interrupted)})"
        raise WorkflowCancelled(f"the workflow was interrupted{how} after {done}/{total} steps")
    if code != 0:
        raise WorkflowFailed(failure_message(log_path, job_dir))
    return RunResult(done=done, total=total, log=log_path)


def _is_pipeline_job(job_dir: Path) -> bool:
    try:
        return "job_type" in json.loads((job_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _stopped_at_end(server: cnvkit_server.ServerProcess | None):
    """The job's CNVkit step server stops (with any step it still runs) when Snakemake has."""
    try:
        yield
    finally:
        if server:
            server.stop()


def _ignore_sighup() -> None:
    # Snakemake has no SIGHUP handler and would die at once, leaving its steps running; the job
    # process turns SIGHUP into a cancel instead. (Runs in the child between fork and exec.)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _send(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except (ProcessLookupError, OSError):
        pass


#: How long Snakemake may take to show it got a group's SIGINT before it is sent one itself.
INTERRUPT_GRACE_SECONDS = 10.0
#: How long Snakemake may take to exit after a cancel (its SLURM plugin sleeps up to 180 s
#: between status checks and exits only when that sleep ends) before it is killed.
EXIT_BOUND_SECONDS = 240.0
#: How long the job's other processes may take to end after Snakemake has gone.
STRAGGLER_BOUND_SECONDS = 30.0
_USER_CANCEL = "Terminating processes on user request"


def _stop_after_interrupt(proc: subprocess.Popen, log, signame: str, *, pgid: int, own_group: bool,
                          execution: Execution, log_path: Path,
                          stop_steps: Callable[[], None] | None = None) -> int:
    """Stop the run after this process got a stop signal; Snakemake's exit code.

    1. Snakemake gets exactly one SIGINT, its cancel (``scancel`` on a cluster). Where it
       shares this process's group and the signal was SIGINT, a group signal (Ctrl-C, a
       worker's cancel) has reached it already: a second one while it cancels would cut that
       short, so one is sent only if Snakemake has not said "Terminating processes on user
       request" within INTERRUPT_GRACE_SECONDS. Otherwise (SIGTERM, SIGHUP, or its own group)
       SIGINT goes to Snakemake's group at once: Snakemake answers SIGTERM by waiting for its
       running steps, and without a group signal its steps would not hear of the cancel.
    2. Meanwhile, whatever SLURM still runs under the run's name is scancel-ed, until Snakemake
       has exited and ``squeue`` shows nothing of the run (the plugin can miss a job it holds
       while polling).
    3. Snakemake is killed if it has not exited after EXIT_BOUND_SECONDS; then any process left
       in the job's group (but this one) gets SIGTERM, and SIGKILL after STRAGGLER_BOUND_SECONDS.
    Its output keeps going to the log meanwhile (a full pipe would block it).

    ``stop_steps`` (the CNVkit step server's interrupt) is called once Snakemake has said it
    cancels, or INTERRUPT_GRACE_SECONDS after Snakemake got its SIGINT without saying so:
    steps stopped earlier would fail first, and Snakemake would end on a failed step
    instead of its own cancel.
    """
    heard = threading.Event()

    def drain() -> None:
        for line in proc.stdout:
            if _USER_CANCEL in line:
                heard.set()
            log.write(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    log.write(f"localgene: got {signame}: cancelling the job\n")
    log.flush()
    started = time.monotonic()
    reported: set[str] = set()
    sent = False
    sent_at = started
    if signame != "SIGINT" or not own_group:
        _sigint_group(proc, pgid, own_group)
        sent = True
    code = None
    next_sweep = 0.0
    while code is None:
        try:
            now = time.monotonic()
            if not sent and (heard.is_set() or now - started > INTERRUPT_GRACE_SECONDS):
                if not heard.is_set():
                    _sigint_group(proc, pgid, own_group)
                sent, sent_at = True, now
            if stop_steps is not None and sent and (heard.is_set() or now - sent_at > INTERRUPT_GRACE_SECONDS):
                stop_steps()
                stop_steps = None
            if execution.is_slurm and now >= next_sweep and now - started > 1.0:
                _sweep_cluster(execution, log_path, reported, wait=False)
                next_sweep = now + 2.0
            if now - started > EXIT_BOUND_SECONDS:
                log.write(f"localgene: Snakemake still running {EXIT_BOUND_SECONDS:.0f} s after the cancel: killed\n")
                _send(proc, signal.SIGKILL)
            try:
                code = proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
        except KeyboardInterrupt:
            continue  # another stop signal: the cancel is under way
    reader.join(timeout=10)
    log.flush()
    while True:
        try:
            if execution.is_slurm:
                _sweep_cluster(execution, log_path, reported, wait=True)
            _end_stragglers(pgid, own_group)
            break
        except KeyboardInterrupt:
            continue
    log.flush()
    return code


def _sigint_group(proc: subprocess.Popen, pgid: int, own_group: bool) -> None:
    if own_group:
        # This process is in the group too: it must not interrupt itself while it cancels.
        signal_members(pgid, signal.SIGINT, exclude=os.getpid())
    else:
        try:
            os.killpg(pgid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            _send(proc, signal.SIGINT)


def _sweep_cluster(execution: Execution, log_path: Path, reported: set[str], *, wait: bool) -> None:
    text = log_path.read_text(errors="replace")
    if wait:
        left = execution.stop_leftovers(text)
    else:
        from localgene import slurm

        left = []
        for run_id in slurm.run_ids(text):
            ids = slurm.queued(run_id) or []
            if ids:
                subprocess.run(["scancel", *ids], capture_output=True, timeout=60, check=False,
                               stdin=subprocess.DEVNULL)
                left.extend(ids)
    left = [i for i in dict.fromkeys(left) if i not in reported]
    if left:
        reported.update(left)
        with open(log_path, "a") as log:
            log.write(f"localgene: cancelled cluster jobs Snakemake left behind: {' '.join(left)}\n")


def _end_stragglers(pgid: int, own_group: bool) -> None:
    """No process of the job's group (but this one) is left when this returns."""
    me = os.getpid() if own_group else None
    if not signal_members(pgid, signal.SIGTERM, exclude=me):
        return
    deadline = time.monotonic() + STRAGGLER_BOUND_SECONDS
    while group_members(pgid, exclude=me) and time.monotonic() < deadline:
        time.sleep(0.2)
    signal_members(pgid, signal.SIGKILL, exclude=me)
    while group_members(pgid, exclude=me):
        time.sleep(0.1)


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


def _wildcards_by_jobid(rows: list[str]) -> dict[str, str]:
    """jobid -> wildcards, from the blocks of Snakemake's log that start jobs."""
    found: dict[str, str] = {}
    jobid = None
    for row in rows:
        if m := _JOBID.match(row):
            jobid = m.group(1)
        elif (w := _WILDCARDS.match(row)) and jobid is not None:
            found.setdefault(jobid, w.group(1))
    return found


def _group_members(block: list[str], job_wildcards: dict[str, str]) -> str:
    """The steps of a group job, from the ``jobs:`` list of its error block: "coverage for
    sample=T1, sample=T2" (one entry per step, its wildcards when the log has them)."""
    steps: dict[str, list[str]] = {}
    rule = None
    for row in block:
        text = row.strip()
        if m := re.match(r"^rule (\S+?):$", text):
            rule = m.group(1)
            steps.setdefault(rule, [])
        elif (j := _JOBID.match(row)) and rule is not None:
            if wildcards := job_wildcards.get(j.group(1)):
                steps[rule].append(wildcards)
            rule = None
    return "; ".join(f"{r} for {', '.join(w)}" if w else r for r, w in steps.items())


def failure_message(snakemake_log: Path, job_dir: Path) -> str:
    """Which step failed and why, from Snakemake's log and the step's own log."""
    rows = snakemake_log.read_text(errors="replace").splitlines()
    rule = wildcards = slurm = None
    step_logs: list[str] = []
    job_wildcards = _wildcards_by_jobid(rows)
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
    if rule is None and (group := _group_failure(rows, job_dir)):
        return group
    if rule is None:
        # Snakemake itself stopped (e.g. the config was refused while parsing the workflow).
        meaningful = [r.strip() for r in rows if r.strip() and not r.startswith(("  File", "    "))]
        reason = next(
            (r for r in reversed(meaningful) if "Error" in r or "error" in r), meaningful[-1] if meaningful else ""
        )
        return f"the workflow could not start: {reason}"
    where = f"step '{rule}'" + (f" ({wildcards})" if wildcards else "")
    if "SLURM sbatch failed" in "\n".join(rows) and (hint := refusal("\n".join(rows), _profile_name(job_dir))):
        return f"{where} was not submitted: {hint}"
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


_ERROR_GROUP = re.compile(r"^(?:\s+message: )?Error in group (\S+?):?$")
_SLURM_LOG_ID = re.compile(r"/(\d+)\.log$")
_SLURM_CANCELLED = re.compile(r"\*\*\* JOB \d+ ON \S+ CANCELLED AT (?!.*DUE TO TIME LIMIT)")


def _group_failure(rows: list[str], job_dir: Path) -> str | None:
    """Which step of a failed group job (several steps in one SLURM job) failed and why.

    Snakemake's group error block names the group and the job's SLURM log (``log:``), not the
    SLURM state; the SLURM log holds slurmstepd's kill or cancel line and the inner Snakemake's
    own "Error in rule <step>:" block with the step's log.
    """
    group, logs, slurm, block = None, [], None, []
    for i in range(len(rows) - 1, -1, -1):
        if m := _ERROR_GROUP.match(rows[i]):
            group = m.group(1)
            for follow in rows[i + 1 :]:
                if follow.strip() and not follow[0].isspace():
                    break
                block.append(follow)
                if sf := _SLURM_FAILED.match(follow):
                    slurm = (sf.group(1), sf.group(2))
                if (lg := _LOG_LINE.match(follow)) and not logs:
                    logs = [p.strip() for p in lg.group(1).split(",")]
            break
    if group is None:
        return None
    slurm_logs = [job_dir / p for p in logs if "slurm_logs" in p]
    text = ""
    for path in slurm_logs:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
    jobid = slurm[0] if slurm else next((m.group(1) for p in logs if (m := _SLURM_LOG_ID.search(p))), None)
    state = slurm[1] if slurm else ("CANCELLED" if _SLURM_CANCELLED.search(text) else "FAILED")
    inner_rows = [r.lstrip() for r in text.splitlines()]
    members = _group_members(block, _wildcards_by_jobid(rows))
    where, inner = f"group '{group}'" + (f" ({members})" if members not in ("", group) else ""), None
    if slurm_logs and any(_ERROR_RULE.match(r) for r in inner_rows):
        inner = failure_message(slurm_logs[0], job_dir)
        if m := re.match(r"^(step '[^']+'(?: \([^)]*\))?)", inner):
            where = m.group(1)
    ref = f"SLURM job {jobid}" if jobid else "its SLURM job"
    where_log = _relative(str(slurm_logs[0]), job_dir) if slurm_logs else None
    if killed := _slurm_kill(state, slurm_logs):
        return f"{where} was killed by SLURM: {killed} [{ref}" + (f"; log: {where_log}]" if where_log else "]")
    if state != "FAILED":
        return f"{where} failed: {ref} ended {state}" + (f" [log: {where_log}]" if where_log else "")
    if inner:
        return f"{inner} [{ref}" + (f"; log: {where_log}]" if where_log else "]")
    return f"{where} failed: {ref} ended {state}" + (f" [log: {where_log}]" if where_log else "")


def _profile_name(job_dir: Path) -> str:
    """The site profile a job used, from the header of its merged profile (for messages)."""
    try:
        header = (job_dir / "logs" / "profile" / "config.yaml").read_text().splitlines()[0]
    except (OSError, IndexError):
        header = ""
    if m := re.search(r" with (.+) laid over it\.$", header):
        return f"your site profile {m.group(1)}/config.yaml"
    return "a site profile (a folder with config.yaml, named by LOCALGENE_PROFILE)"


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
