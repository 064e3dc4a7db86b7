"""A job's CNVkit step server started before its job folder exists.

Importing CNVkit takes the server about 3 s; started only once the job folder is written (after
the checks, the staging and the folder's set-up), it was still importing when Snakemake had
built its DAG, and the job's first CNVkit step waited for it. ``localgene run`` therefore starts
the server (:func:`start`, from localgene.cli.main) before it imports the rest of localgene,
reads, checks and records the job, and ends it if the job is refused or its steps use none::

    python -m localgene.cnvkit.server -        (the job folder comes on standard input)

The server imports CNVkit at once while a thread waits for one JSON line on its standard
input: ``{"cwd": JOB_FOLDER, "socket": ..., "log": ...}`` (paths relative to the job folder, as
for a server started in it). The thread then moves into the job folder, turns its output into
the server's log and listens on the socket, so steps may connect (and queue) while the import
goes on; once both are done the server serves as any other (localgene.cnvkit.server). A job that
never comes (the checks refused it, the job process died: end of file on standard input)
leaves nothing behind: the server exits after the import without having written anything.

Only the server's own working directory and log depend on the folder: a step runs in the
working directory and environment of its request.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

#: The server's argument that says: the job folder comes on standard input.
FROM_STDIN = "-"


@dataclass
class EarlyServer:
    """A server started by :func:`start`, until :meth:`attach` gives it its job folder."""

    proc: subprocess.Popen

    def attach(self, job_dir: str | os.PathLike, socket: str, log: str) -> subprocess.Popen | None:
        """Send the job folder; the server process, or None if it is gone (start another)."""
        if self.proc.poll() is not None or self.proc.stdin is None:
            return None
        try:
            self.proc.stdin.write(json.dumps({"cwd": os.fspath(job_dir), "socket": socket, "log": log}).encode()
                                  + b"\n")
            self.proc.stdin.close()
        except OSError:  # it died meanwhile
            self.discard()
            return None
        return self.proc

    def discard(self) -> None:
        """The job will not use it (refused, a pipeline job, another executor): end it now."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()


def start(env: dict[str, str] | os._Environ[str] | None = None, *, local: bool = True,
          snakemake_args: Sequence[str] = ()) -> EarlyServer | None:
    """Start a server that waits for its job folder; None where a job's steps would not use one
    (the same rule as localgene.cnvkit.server_process.start)."""
    from localgene.cnvkit.server_process import uses_server

    env = dict(os.environ if env is None else env)
    if not uses_server(env, local=local, snakemake_args=snakemake_args):
        return None
    proc = subprocess.Popen([sys.executable, "-m", "localgene.cnvkit.server", FROM_STDIN],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    return EarlyServer(proc)


# -- the server's side ------------------------------------------------------------------------


def serve_when_attached() -> int:
    """``python -m localgene.cnvkit.server -``: import CNVkit, take the job folder from standard
    input meanwhile, then serve; 0 without serving if the folder never came."""
    from localgene.cnvkit import server

    came: dict = {}

    def attach() -> None:
        try:
            line = sys.stdin.buffer.readline()
            if not line:
                return  # the job process closed it: no job for this server
            said = json.loads(line)
            os.chdir(said["cwd"])
            os.makedirs(os.path.dirname(said["log"]) or ".", exist_ok=True)
            fd = os.open(said["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            came["socket"] = said["socket"]
            came["listener"] = server.listen(said["socket"])
        except Exception as exc:  # noqa: BLE001  (said in the log, if it could be opened)
            came["error"] = exc

    # A stop (SIGTERM, SIGHUP) during the import is kept for after it: the server then ends
    # as a stopped one does (its socket removed, "stopped" in its log) instead of dying mid-import.
    stops: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: stops.append(signum))
    reader = threading.Thread(target=attach, name="job-folder", daemon=True)
    reader.start()
    try:
        took = server.preload()
    except BaseException:
        reader.join()  # its traceback goes to the job's server log, if a job came
        raise
    reader.join()  # one thread again before any fork
    if "error" in came:
        server._log(f"could not take its job folder: {came['error']}")
        return 1
    if "listener" not in came:
        return 0
    server._log(f"listening on {came['socket']} (started before the job folder was written)")
    server._log(f"imported CNVkit in {took:.1f} s")
    if stops:
        came["listener"].close()
        with contextlib.suppress(OSError):
            os.unlink(came["socket"])
        server._log(f"stopped (got {signal.Signals(stops[0]).name} while importing)")
        return 0
    return server.serve_on(server.Server(came["listener"]), came["socket"])
