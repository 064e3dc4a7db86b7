"""The job's CNVkit step server: CNVkit imported once per job, each step a forked child.

Importing ``cnvlib.commands`` costs 1.6–4 s of CPU, more than most steps of a job take. For a
job that runs on this machine, the job process (:func:`localgene.run.workflow.run_workflow`) starts
one server beside Snakemake, in the job's own process group::

    python -m localgene.cnvkit.server .snakemake/localgene/server/cnvkit.sock   (cwd: job folder)

(``localgene run`` starts it as ``python -m localgene.cnvkit.server -`` before the job folder
exists, and sends it the folder later: localgene.cnvkit.server_early.)

It listens on a UNIX socket in the job folder (its folder mode 0700, the socket 0600), imports
CNVkit once and then, for each request of :func:`localgene.cnvkit.step.run_cnvkit`, forks a child
that runs the step **exactly as** ``cnvkit.py <argv>`` **would**: CNVkit's own entry point
(``cnvlib.cnvkit.main``: its logging set-up, argument parser and command function), the
request's log file as stdout and stderr, the request's working directory and environment, exit
code 2 for an argument error and 1 with the traceback in the log for a runtime error. A child is
a fresh copy of the server as it was after the import, so nothing one step changes (matplotlib
state, options, globals) reaches the next.

Before importing, the server pins BLAS/OpenMP pools to one thread (``OPENBLAS_NUM_THREADS=1``…):
a process must not fork while such threads exist. It runs one thread only (a selector loop over
the socket, the connections and one pidfd per child), so forking is safe.

Signals: SIGINT is passed on to the running steps (a Ctrl-C or a cancel reaches them directly
too: they are in the job's process group); SIGTERM stops the running steps and the server.
A step whose client disconnects (Snakemake stopped) is stopped; a child whose server dies gets
SIGTERM (``PR_SET_PDEATHSIG``), so no step outlives it.
"""

from __future__ import annotations

import array
import json
import os
import selectors
import signal
import socket
import sys
import time

from localgene.cnvkit.step import MAX_MESSAGE, cnvkit_executable

#: Where the job process puts the socket, relative to the job folder.
SOCKET = os.path.join(".snakemake", "localgene", "server", "cnvkit.sock")
#: The server's own log, relative to the job folder.
LOG = os.path.join("logs", "cnvkit-server.log")
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_PR_SET_PDEATHSIG = 1


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} cnvkit-server[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def preload() -> float:
    """Import what every CNVkit step imports; seconds it took."""
    started = time.perf_counter()
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    # CNVkit's parsers take their program name from sys.argv[0] when they are built (at import)
    sys.argv = [cnvkit_executable()]
    import importlib

    import cnvlib.cnvkit  # noqa: F401  (cnvlib.commands and everything it pulls in)
    import matplotlib.pyplot  # noqa: F401

    for module in ENTRIES.values():
        importlib.import_module(module)
    import gc

    gc.collect()
    gc.freeze()  # imported objects stay shared with the children (no copy on write by the GC)
    return time.perf_counter() - started


def set_pdeathsig() -> None:
    """This process gets SIGTERM when the one that started it ends (Linux ``PR_SET_PDEATHSIG``;
    nothing where it is not available)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def exit_status(code: object) -> int:
    """The exit status a Python process has after ``raise SystemExit(code)`` (a message is
    printed to stderr, as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


#: The stop signals a step gets from the server (and the job's process group).
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

#: What a request may run besides CNVkit (``"entry"``): module -> its ``main(argv)``.
ENTRIES = {"coverage": "localgene.cnvkit.coverage_step", "segment_check": "localgene.cnvkit.segment_check",
           "report": "localgene.report.entry"}

#: True in a step's child (a step there that runs CNVkit forks it itself: see run_forked).
IN_STEP = False


def _entry_main(entry: str | None):
    """The function a step runs: CNVkit's ``main()`` (argv in ``sys.argv``), or an entry's."""
    if entry is None:
        from cnvlib.cnvkit import main

        from localgene.cnvkit.cbs_warm import wrap

        # a CBS segment step: one warm R process for its arms (the step's cwd is the job folder)
        return wrap(lambda argv: main(), LOG)
    import importlib

    module = importlib.import_module(ENTRIES[entry])
    return lambda argv: module.main(argv)


def run_forked(argv: list[str], log_fd: int) -> tuple[int, float, float]:
    """From a step's child: ``cnvkit.py <argv>`` in a child of its own (CNVkit is imported
    already; no second request to the server). Exit code, CPU seconds, peak MB. Only where no
    other thread runs (a fork copies one thread)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        run_step({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}, os.dup(log_fd))
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_step(request: dict, log_fd: int) -> None:
    """In the forked child: ``cnvkit.py <argv>`` as its own process would run it (or, for a
    request with ``"entry"``, that entry's ``main(argv)``); never returns."""
    import traceback

    global IN_STEP
    IN_STEP = True
    code = 1
    try:
        set_pdeathsig()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(null)
        os.close(log_fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import tempfile

        tempfile.tempdir = None  # TMPDIR of this step, not of the server
        sys.argv = [sys.argv[0], *request["argv"]]

        try:
            # The server forks with the stop signals blocked: one sent since is delivered here,
            # to the step's own handlers (never to the server's, inherited until the lines
            # above), and a SIGINT ends the step as one during the command would.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
            main = _entry_main(request.get("entry"))
            returned = main(list(request["argv"]))
            code = returned if isinstance(returned, int) else 0
        except SystemExit as exc:
            code = exit_status(exc.code)
        except KeyboardInterrupt:
            traceback.print_exc()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)  # as Python does: ended by SIGINT
        except BaseException:  # noqa: BLE001  (what Python prints for an uncaught exception)
            traceback.print_exc()
            code = 1
        try:
            import atexit

            atexit._run_exitfuncs()  # as at the end of a process (logging, multiprocessing)
        except BaseException:  # noqa: BLE001
            pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    finally:
        os._exit(code)


class Server:
    """One selector loop: the listening socket, each client's connection, each child's pidfd."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[socket.socket, int]] = {}  # pid -> (connection, pidfd)
        self.watched: set[int] = set()  # children whose connection is watched for a hang-up
        self.stopping = False
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ, self._accept)
        # signals wake the loop through a pipe; handled between events
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        self.selector.register(self.wake_r, selectors.EVENT_READ, self._signalled)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda signum, frame: None)

    def serve(self) -> None:
        while not (self.stopping and not self.children):
            for key, _ in self.selector.select(timeout=1.0 if self.stopping else None):
                key.data(key.fileobj)

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(True)
        self.selector.register(conn, selectors.EVENT_READ, self._request)

    def _request(self, conn: socket.socket) -> None:
        """A client's first message: the step; later: only its disconnect."""
        self.selector.unregister(conn)
        try:
            data, ancdata, _, _ = conn.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(array.array("i", [0]).itemsize))
        except OSError:
            conn.close()
            return
        fds = array.array("i")
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        try:
            request = json.loads(data)
            if len(fds) != 1 or not isinstance(request.get("argv"), list):
                raise ValueError("a request is one JSON object with argv and one log file")
            if request.get("entry") is not None and request["entry"] not in ENTRIES:
                raise ValueError(f"unknown entry {request['entry']!r}")
        except ValueError as exc:
            _log(f"refused a request: {exc}")
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
        pid = -1
        try:
            pid = os.fork()
            if pid == 0:
                self._close_in_child(conn)
                run_step(request, fds[0])
        finally:
            if pid != 0:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
        os.close(fds[0])
        pidfd = os.pidfd_open(pid)
        self.children[pid] = (conn, pidfd)
        self.selector.register(pidfd, selectors.EVENT_READ, lambda fd, pid=pid: self._ended(pid))
        self.selector.register(conn, selectors.EVENT_READ, lambda c, pid=pid: self._hung_up(pid))
        self.watched.add(pid)
        try:
            conn.sendall(json.dumps({"pid": pid}).encode())
        except OSError:
            self._hung_up(pid)

    def _close_in_child(self, conn: socket.socket) -> None:
        """In a new child: nothing of the server stays open (a client must see the server go)."""
        signal.set_wakeup_fd(-1)
        self.selector.close()
        self.listener.close()
        conn.close()
        for other, pidfd in self.children.values():
            other.close()
            os.close(pidfd)
        os.close(self.wake_r)
        os.close(self.wake_w)

    def _ended(self, pid: int) -> None:
        conn, pidfd = self.children.pop(pid)
        _, status, usage = os.wait4(pid, 0)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        if pid in self.watched:
            self.watched.discard(pid)
            self.selector.unregister(conn)
        reply = {"exit": os.waitstatus_to_exitcode(status), "cpu_s": usage.ru_utime + usage.ru_stime,
                 "max_rss_mb": usage.ru_maxrss / 1024}
        try:
            conn.sendall(json.dumps(reply).encode())
        except OSError:
            pass
        conn.close()

    def _hung_up(self, pid: int) -> None:
        """The client went away (Snakemake stopped) while its step runs: stop the step."""
        conn = self.children[pid][0]
        try:
            if conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self.selector.unregister(conn)
        self.watched.discard(pid)
        _log(f"client of step {pid} went away; stopping the step")
        self._signal(pid, signal.SIGTERM)

    def _signal(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def _signalled(self, fd: int) -> None:
        try:
            received = os.read(fd, 64)
        except BlockingIOError:
            return
        for signum in received:
            if signum == signal.SIGINT:
                for pid in list(self.children):
                    self._signal(pid, signal.SIGINT)
            elif signum in (signal.SIGTERM, signal.SIGHUP) and not self.stopping:
                _log(f"stopping ({len(self.children)} steps running)")
                self.stopping = True
                self.selector.unregister(self.listener)
                self.listener.close()
                for pid in list(self.children):
                    self._signal(pid, signal.SIGTERM)


def listen(path: str) -> socket.socket:
    """A listening socket at ``path`` (relative to the working directory), owner-only."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    try:
        os.unlink(path)  # left by an earlier run of this job
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    binding = os.path.join(folder, f".{os.getpid()}.sock")
    old = os.umask(0o177)
    try:
        listener.bind(binding)
    finally:
        os.umask(old)
    listener.listen(128)
    os.replace(binding, path)  # the socket appears only once it accepts connections
    return listener


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m localgene.cnvkit.server SOCKET|-", file=sys.stderr)
        return 2
    path = args[0]
    if path == "-":  # started before its job folder was written (localgene.cnvkit.server_early)
        from localgene.cnvkit.server_early import serve_when_attached

        return serve_when_attached()
    # Clients may connect (and queue) while CNVkit is imported.
    listener = listen(path)
    server = Server(listener)  # its signal handlers from now on: a stop during the import is logged
    _log(f"listening on {path}")
    _log(f"imported CNVkit in {preload():.1f} s")
    return serve_on(server, path)


def serve_on(server: Server, path: str) -> int:
    """Serve (CNVkit imported) until stopped; the socket ``path`` is then removed."""
    try:
        server.serve()
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    _log("stopped")
    return 0


if __name__ == "__main__":
    # one module object, whichever way it is reached (steps import localgene.cnvkit.server)
    sys.modules.setdefault("localgene.cnvkit.server", sys.modules[__name__])
    sys.exit(main())
