"""Run one CNVkit step, ``cnvkit.py <argv…>``: through the job's CNVkit step server, or as a process.

This is the one place that decides how a CNVkit step runs; every CNVkit rule goes through
:func:`run_cnvkit`, from a ``run:`` block in Snakemake's own process or from a ``script:``
(``rules/scripts/run_cnvkit.py``); :func:`run_entry` runs localgene's coverage step the same way::

    from localgene.cnvkit.step import run_cnvkit
    code = run_cnvkit(["call", "results/samples/T1.cns", "-o", "results/samples/T1.call.cns"],
                      "logs/call/T1.log", step="call", wildcards={"sample": "T1"})

The log starts with the command (``$ cnvkit.py call …``) followed by what CNVkit writes to
stdout and stderr; the return value is CNVkit's exit code (2: an argument error, 1: a runtime
error, with the traceback in the log). With ``step`` given, one record is added to the job's
timeline (:mod:`localgene.run.timeline`).

* **Server** (:mod:`localgene.cnvkit.server`): when the job process started one
  (``LOCALGENE_CNVKIT_SERVER`` names its socket), the step is not a conda one and the caller runs
  the same Python installation as the server. The log file is handed over as an open file, the
  step runs in a child forked by the server (CNVkit imported once per job) with this process's
  environment and working directory, and an interrupt this process receives (``script:`` mode,
  main thread) is passed on to that child. A server that is gone fails the step with a clear
  message in its log instead of hanging.
* **Process**: otherwise (``LOCALGENE_WARM=0``, a conda environment, a cluster executor other
  than SLURM, whose job scripts start a server of their own: localgene.run.slurm_job), exactly
  the ``cnvkit.py`` process a user would start, as an argument list, never through a shell.

Standard library only (and :mod:`localgene.run.timeline`): this also runs inside the conda
environment of envs/cnvkit.yaml, with the workflow folder on ``sys.path``.
"""

from __future__ import annotations

import array
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any, Callable

from localgene.run import timeline
from localgene.settings import Environment

#: The socket of the job's CNVkit step server (set by localgene.run.workflow for Snakemake).
ENV_SERVER = "LOCALGENE_CNVKIT_SERVER"
#: ``sys.prefix`` of the server's Python: only callers of the same installation use it.
ENV_SERVER_PREFIX = "LOCALGENE_CNVKIT_SERVER_PREFIX"
#: ``LOCALGENE_WARM=0`` runs every step as its own ``cnvkit.py`` process.
ENV_WARM = "LOCALGENE_WARM"
#: The largest request a server accepts (argv, working directory, environment).
MAX_MESSAGE = 1 << 20

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PDF_LOCK = threading.Lock()  # pdfium is not thread-safe; run: blocks share one process


class ServerGone(Exception):
    """The CNVkit step server is not there, or stopped before the step ended."""


def warm_enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when ``LOCALGENE_WARM`` is 0/false/no/off."""
    value = Environment.read(env).warm.strip().lower()
    return value not in {"0", "false", "no", "off"}


def server_socket(env: Mapping[str, str] | None = None, *, conda_prefix: str | None = None) -> str | None:
    """The server socket this step may use, or None when it runs as its own process."""
    raw = Environment.read(env)
    path = raw.cnvkit_server
    if not path or conda_prefix or raw.warm.strip().lower() in {"0", "false", "no", "off"}:
        return None
    if raw.cnvkit_server_prefix != sys.prefix:
        return None  # another Python (a conda environment): another CNVkit
    return path


def cnvkit_executable(conda_prefix: str | None = None) -> str:
    """``cnvkit.py`` of the conda environment, of this Python, or on PATH."""
    if conda_prefix:
        return str(Path(conda_prefix, "bin", "cnvkit.py"))
    beside = Path(sys.executable).with_name("cnvkit.py")
    return str(beside) if beside.exists() else (shutil.which("cnvkit.py") or "cnvkit.py")


def run_cnvkit(argv: Sequence[str], log: str | os.PathLike | IO[str], *, step: str | None = None,
               wildcards: Mapping[str, str] | None = None, conda_prefix: str | None = None,
               env: Mapping[str, str] | None = None, note: str | None = None) -> int:
    """``cnvkit.py <argv>`` with its output in ``log``; CNVkit's exit code.

    ``log``: the step's log file, as a path (written afresh) or as a text file already open
    for writing (the command and CNVkit's output are appended; it stays open). ``note``: a
    line written right after the command (e.g. why this step runs CNVkit itself). ``step``:
    the name the step's record in the job's timeline gets (none without it).
    """
    if hasattr(log, "write"):
        return _run(argv, log, step, wildcards, conda_prefix, env, note)
    with open(log, "w") as opened:
        return _run(argv, opened, step, wildcards, conda_prefix, env, note)


def run_entry(entry: str, argv: Sequence[str], log: str | os.PathLike, *, step: str,
              wildcards: Mapping[str, str] | None = None, conda_prefix: str | None = None,
              env: Mapping[str, str] | None = None) -> int:
    """One of localgene's steps that use CNVkit (``cnvkit_server.ENTRIES``, e.g. ``coverage``)
    run like a CNVkit step: forked by the job's server (CNVkit imported already), else as
    ``python -m <module> <argv>``. ``log`` is written afresh and then opened for appending
    (the step may append to it itself). Its exit code; one timeline record named ``step``."""
    open(log, "w").close()
    with open(log, "a") as opened:
        return _run(argv, opened, step, wildcards, conda_prefix, env, entry=entry)


def _in_step_child() -> bool:
    """Whether this process is a step forked by the job's CNVkit step server."""
    server = sys.modules.get("localgene.cnvkit.server")
    return bool(server and server.IN_STEP)


def _run(argv, log, step, wildcards, conda_prefix, env, note=None, entry=None) -> int:
    argv = [str(a) for a in argv]
    step_env = dict(os.environ if env is None else env)
    if conda_prefix:
        step_env["PATH"] = str(Path(conda_prefix, "bin")) + os.pathsep + step_env.get("PATH", "")
    sock = server_socket(step_env, conda_prefix=conda_prefix)
    start = time.time()
    if entry is None:
        log.write("$ cnvkit.py " + shlex.join(argv) + "\n" + (note.rstrip("\n") + "\n" if note else ""))
    log.flush()
    if sock and entry is None and _in_step_child() and threading.active_count() == 1:
        # a step of the server (e.g. coverage) running CNVkit: CNVkit is imported here already
        from localgene.cnvkit.server import run_forked

        runner = "server"
        code, cpu_s, rss_mb = run_forked(argv, log.fileno())
    elif sock:
        runner = "server"
        try:
            code, cpu_s, rss_mb = _through_server(sock, argv, log, step_env, entry)
        except ServerGone as exc:
            log.write(f"localgene: {exc}\n")
            log.flush()
            code, cpu_s, rss_mb = 1, 0.0, 0.0
    else:
        runner = "process"
        if entry is None:
            command = [cnvkit_executable(conda_prefix), *argv]
        else:
            from localgene.cnvkit.server import ENTRIES

            python = str(Path(conda_prefix, "bin", "python")) if conda_prefix else sys.executable
            command = [python, "-m", ENTRIES[entry], *argv]
            # localgene itself, for a conda environment's Python (it imports only the standard
            # library and CNVkit there)
            package_parent = str(Path(__file__).resolve().parents[2])  # localgene/cnvkit/ -> the folder holding localgene/
            step_env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, step_env.get("PYTHONPATH")) if p)
        code, cpu_s, rss_mb = _as_process(command, log, step_env)
    if step:
        timeline.record(step, dict(wildcards or {}), str(log.name), start=start, end=time.time(),
                        cpu_s=cpu_s, max_rss_mb=rss_mb, runner=runner)
    return code


def _as_process(argv: list[str], log, env: dict[str, str]) -> tuple[int, float, float]:
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    while True:
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            break
        except InterruptedError:
            continue
        except KeyboardInterrupt:
            proc.wait()  # the step got the same interrupt (one process group); let it end
            raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _connect(path: str) -> socket.socket:
    # A UNIX socket path holds at most 107 bytes: connect relative to the working directory
    # (the job folder) when the absolute path is longer.
    target = path if len(os.fsencode(path)) < 100 else os.path.relpath(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(target)
    except OSError as exc:
        sock.close()
        raise ServerGone(f"the job's CNVkit step server is not running ({path}: {exc.strerror}); "
                         f"the step did not run") from None
    return sock


def _message(sock: socket.socket) -> dict | None:
    data = sock.recv(MAX_MESSAGE)
    return json.loads(data) if data else None


def _through_server(path: str, argv: list[str], log, env: dict[str, str],
                    entry: str | None = None) -> tuple[int, float, float]:
    sock = _connect(path)
    child: list[int] = []  # the step's pid, once the server has said it
    pending: list[int] = []  # signals that came before it
    saved: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int | None] = {}

    def forward(signum, frame):  # noqa: ARG001
        if not child:
            pending.append(signum)
            return
        try:
            os.kill(child[0], signum)
        except ProcessLookupError:
            pass

    try:
        if threading.current_thread() is threading.main_thread():
            for sig in _FORWARDED:
                saved[sig] = signal.signal(sig, forward)
        request = {"argv": argv, "cwd": os.getcwd(), "env": env, **({"entry": entry} if entry else {})}
        sock.sendmsg([json.dumps(request).encode()],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [log.fileno()]))])
        started = _message(sock)
        if started is None or "pid" not in started:
            raise ServerGone("the job's CNVkit step server stopped before it started this step "
                             "(see logs/cnvkit-server.log)")
        child.append(int(started["pid"]))
        for signum in pending:
            forward(signum, None)
        done = _message(sock)
        if done is None or "exit" not in done:
            raise ServerGone("the job's CNVkit step server stopped while this step ran "
                             "(see logs/cnvkit-server.log); the step was stopped")
        child.clear()
        return int(done["exit"]), float(done["cpu_s"]), float(done["max_rss_mb"])
    except (ConnectionError, OSError) as exc:
        raise ServerGone(f"lost the job's CNVkit step server ({exc}); the step was stopped") from None
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        if child:  # the server is gone: do not leave its child running
            try:
                os.kill(child[0], signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        sock.close()


def pdf_to_png(pdf: str | os.PathLike, png: str | os.PathLike, scale: float = 2.0) -> None:
    """The first page of CNVkit's PDF rendered as a PNG (pypdfium2)."""
    import pypdfium2

    with _PDF_LOCK:
        doc = pypdfium2.PdfDocument(str(pdf))
        try:
            doc[0].render(scale=scale).to_pil().save(str(png))
        finally:
            doc.close()
