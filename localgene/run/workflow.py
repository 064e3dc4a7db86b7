"""Running the Snakemake workflow for one job (CNVkit or a pipeline), in its own folder, as a child process.

Snakemake runs as ``python -m localgene.run.snakemake_main`` (Snakemake with localgene's logger
plugin) in a separate process (it changes the working directory and installs signal handlers,
so it never runs inside a server thread). Its text output goes to
``<job folder>/logs/snakemake.log``; its events (docs/events.md) are read as they come to
report progress, and when a step fails localgene.run.step_failures says which step failed and why,
without a Python traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from localgene.cnvkit import server_process
from localgene.cnvkit.server_early import EarlyServer
from localgene.errors import LocalgeneError, WorkflowFailed
from localgene.run import events as run_events
from localgene.run import snakemake_events
from localgene.run.events import RunEvents
from localgene.run.execution import Execution
from localgene.run.job_folder import (  # noqa: F401  (re-exported: the job process prepares, then runs)
    absolute_paths,
    load_body,
    pipeline_snakefile,
    prepare_job,
    prepare_pipeline_job,
)
from localgene.run.signals import group_members, signal_members, signal_name
from localgene.run.step_failures import failure_message
from localgene.run.workflow_source import PACKAGED_WORKFLOW, workflow_dir

__all__ = ["PACKAGED_WORKFLOW", "RunResult", "WorkflowCancelled", "absolute_paths", "failure_message",
           "load_body", "prepare_job", "run_workflow", "snakemake_argv", "workflow_dir"]


ProgressCallback = Callable[[int, int], None]


class WorkflowCancelled(LocalgeneError):
    """The workflow stopped because it was interrupted (cancel or Ctrl-C)."""

    code = "DLI.0409"
    http_status = 409


@dataclass
class RunResult:
    done: int
    total: int
    log: Path


def snakemake_argv(job_dir: Path, cores: int, extra: Sequence[str] = (),
                   execution: Execution | None = None) -> list[str]:
    """Snakemake's argv for a job; ``execution`` (default: local) decides where steps run.

    Snakemake runs through localgene.run.snakemake_main, with localgene's logger plugin writing the
    run's events into the job folder (docs/events.md).
    """
    wf = workflow_dir()
    return [
        sys.executable,
        "-m",
        "localgene.run.snakemake_main",
        "--logger",
        snakemake_events.NAME,
        "--logger-localgene-path",
        str(run_events.events_path(job_dir)),
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
    early_server: EarlyServer | None = None,
) -> RunResult:
    """Run the prepared job in ``job_dir`` to the end; raise WorkflowFailed naming the step.

    A stop signal (SIGINT, or SIGTERM/SIGHUP turned into :class:`~localgene.run.signals.Stopped`
    by the entry point) cancels the run: see :func:`_stop_after_interrupt`; it raises
    WorkflowCancelled only once no process and no cluster job of the run is left.
    ``early_server``: the job's CNVkit step server, started before the folder was written
    (localgene.cnvkit.server_early); it is given the folder, or ended if the steps use none.
    """
    job_dir = Path(job_dir).resolve()
    execution = execution or Execution()
    log_path = job_dir / "logs" / "snakemake.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    interrupted: BaseException | None = None
    lost: list[str] = []
    # Progress, the steps' ends and the executor's job ids come from the run's events (the
    # logger plugin's JSON lines), read as they come; the text output only goes to the log.
    events_file = run_events.EventFile(run_events.events_path(job_dir))
    events_file.skip_existing()
    state = RunEvents()
    # Snakemake shares this process's group when this process leads it (a worker's job process,
    # a terminal's job), so a group signal reaches every process of the job; otherwise (started
    # by a script or a test) it gets a group of its own, so that this process never signals a
    # group it does not own.
    own_group = os.getpgrp() == os.getpid()
    # CNVkit imported once for the job's steps (docs/speed.md); None: each step is a process
    # (pipeline jobs run no CNVkit step: no server for them)
    if _is_pipeline_job(job_dir):
        server = None
        if early_server is not None:
            early_server.discard()
    else:
        server = server_process.start(job_dir, env, local=execution.is_local, snakemake_args=extra_args,
                                      early=early_server)
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
        lines = _pump(proc)

        def on_lost(message: str) -> None:
            lost.append(message)
            log.write(f"localgene: {message}; stopping the run\n")
            _send(proc, signal.SIGINT)

        watch = execution.watch(on_lost)
        reporting = [on_progress is not None]  # no progress reported once a cancel has begun

        def take_events() -> RunEvents:
            for event in events_file.new():
                state.add(event)
                if watch is not None:
                    watch.feed(event)
                if not reporting[0] or not on_progress:
                    continue
                if event["event"] == "run_info" and state.done == 0:
                    on_progress(state.done, state.total)
                elif event["event"] == "progress":
                    on_progress(state.done, state.total)
            return state

        if watch is not None:
            watch.start()
        try:
            while True:
                try:
                    line = lines.get(timeout=0.5)
                except queue.Empty:
                    take_events()
                    continue
                if line is None:
                    lines.put(None)  # the end stays visible to a later reader (a cancel's drain)
                    break
                if execution.keep_line(line):
                    log.write(line)
                    log.flush()
                take_events()
            code = proc.wait()
            take_events()
        except KeyboardInterrupt as exc:
            interrupted = exc
            reporting[0] = False
            code = _stop_after_interrupt(proc, log, signal_name(exc), pgid=pgid, own_group=own_group,
                                         execution=execution, log_path=log_path, lines=lines,
                                         events=take_events,
                                         stop_steps=server.interrupt if server else None)
            take_events()
        finally:
            if watch is not None:
                watch.stop()
        if code != 0 and interrupted is None:
            left = execution.stop_leftovers(state)
            if left:
                log.write(f"localgene: cancelled cluster jobs Snakemake left behind: {' '.join(left)}\n")
    done, total = state.done, state.total
    if lost:
        raise WorkflowFailed(lost[0])
    if interrupted is not None or code in (-signal.SIGINT, -signal.SIGTERM, 130):
        how = "" if interrupted is None else f" ({signal_name(interrupted)})"
        raise WorkflowCancelled(f"the workflow was interrupted{how} after {done}/{total} steps")
    if code != 0:
        raise WorkflowFailed(failure_message(log_path, job_dir, state))
    return RunResult(done=done, total=total, log=log_path)


def _pump(proc: subprocess.Popen) -> queue.Queue[str | None]:
    """Snakemake's output lines, read by a thread into a queue (None: the output has ended), so
    that the run's events are read while Snakemake prints nothing."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.put(line)
        finally:
            lines.put(None)

    threading.Thread(target=pump, daemon=True, name="snakemake-output").start()
    return lines


def _is_pipeline_job(job_dir: Path) -> bool:
    try:
        return "job_type" in json.loads((job_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _stopped_at_end(server: server_process.ServerProcess | None):
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
#: Its scheduler loop says so as the KeyboardInterrupt reaches it (well under a second, even
#: on a loaded machine); a SIGINT sent to the job process alone (``kill -INT``) must not leave
#: the run going for long: a demo job's remaining steps take only seconds.
INTERRUPT_GRACE_SECONDS = 3.0
#: How long Snakemake may take to say it cancels, once it has its SIGINT, before the CNVkit
#: step server's steps are interrupted anyway.
STEPS_GRACE_SECONDS = 10.0
#: How long Snakemake may take to exit after a cancel (its SLURM plugin sleeps up to 180 s
#: between status checks and exits only when that sleep ends) before it is killed.
EXIT_BOUND_SECONDS = 240.0
#: How long the job's other processes may take to end after Snakemake has gone.
STRAGGLER_BOUND_SECONDS = 30.0
_USER_CANCEL = "Terminating processes on user request"


def _stop_after_interrupt(proc: subprocess.Popen, log, signame: str, *, pgid: int, own_group: bool,
                          execution: Execution, log_path: Path, lines: queue.Queue[str | None] | None = None,
                          events: Callable[[], RunEvents] = RunEvents,
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
    cancels, or STEPS_GRACE_SECONDS after Snakemake got its SIGINT without saying so:
    steps stopped earlier would fail first, and Snakemake would end on a failed step
    instead of its own cancel.
    """
    heard = threading.Event()

    if lines is None:
        lines = _pump(proc)

    def drain() -> None:
        # Snakemake says it cancels only in its text output (no event for it)
        while (line := lines.get()) is not None:
            if _USER_CANCEL in line:
                heard.set()
            log.write(line)
        lines.put(None)

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
            if stop_steps is not None and sent and (heard.is_set() or now - sent_at > STEPS_GRACE_SECONDS):
                stop_steps()
                stop_steps = None
            if execution.is_slurm and sent and now >= next_sweep and now - sent_at > 1.0:
                _sweep_cluster(execution, events(), log_path, reported, wait=False)
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
                _sweep_cluster(execution, events(), log_path, reported, wait=True)
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


def _sweep_cluster(execution: Execution, events: RunEvents, log_path: Path, reported: set[str], *,
                   wait: bool) -> None:
    left = execution.stop_leftovers(events) if wait else execution.sweep(events)
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
