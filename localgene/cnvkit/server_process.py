"""The job process's side of the CNVkit step server: whether a job uses one, starting it
(``python -m localgene.cnvkit.server``) in the job's process group and stopping it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from localgene.cnvkit.server import LOG, SOCKET, set_pdeathsig
from localgene.cnvkit.server_early import EarlyServer
from localgene.cnvkit.step import ENV_SERVER, ENV_SERVER_PREFIX, warm_enabled


def _uses_conda(snakemake_args: Sequence[str]) -> bool:
    args = list(snakemake_args)
    if "--use-conda" in args:
        return True
    for i, arg in enumerate(args):
        if arg in ("--sdm", "--software-deployment-method") and "conda" in args[i + 1 : i + 3]:
            return True
        if arg.startswith(("--sdm=", "--software-deployment-method=")) and "conda" in arg:
            return True
    return False


@dataclass
class ServerProcess:
    """A running server of one job, as its job process sees it."""

    proc: subprocess.Popen
    socket: Path

    def interrupt(self) -> None:
        """Pass an interrupt on to the running steps (they may not have had it)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def stop(self, grace: float = 30.0) -> None:
        """Stop the running steps and the server; return once it has exited."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def uses_server(env: Mapping[str, str], *, local: bool, snakemake_args: Sequence[str] = ()) -> bool:
    """Whether a job's steps use a server: not on a cluster executor, with ``LOCALGENE_WARM=0``
    or with conda environments."""
    return local and warm_enabled(env) and not _uses_conda(snakemake_args)


def start(job_dir: Path, env: dict[str, str], *, local: bool,
          snakemake_args: Sequence[str] = (), ready_within: float = 120.0,
          socket: str = SOCKET, log: str = LOG, die_with_parent: bool = False,
          early: EarlyServer | None = None) -> ServerProcess | None:
    """Start the server of a job when its steps can use it, and point ``env`` (Snakemake's) at it.

    None (steps then run as their own ``cnvkit.py`` processes) for a cluster executor, with
    ``LOCALGENE_WARM=0``, with conda environments, or when the server did not come up.
    Returns as soon as the server listens (CNVkit is imported while Snakemake starts).
    ``socket`` and ``log`` are relative to the job folder (a SLURM job's server has its own:
    localgene.run.slurm_job); ``die_with_parent``: the server gets SIGTERM when this process ends.
    ``early``: a server started before the job folder existed (localgene.cnvkit.server_early),
    given the folder here instead of starting another; ended if the job's steps use none.
    """
    if not uses_server(env, local=local, snakemake_args=snakemake_args):
        if early is not None:
            early.discard()
        return None
    job_dir = Path(job_dir)
    (job_dir / log).parent.mkdir(parents=True, exist_ok=True)
    path = job_dir / socket
    proc = early.attach(job_dir, socket, log) if early is not None else None
    if proc is None:
        with open(job_dir / log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "localgene.cnvkit.server", socket], cwd=job_dir,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    preexec_fn=set_pdeathsig if die_with_parent else None)
    server = ServerProcess(proc, path)
    deadline = time.monotonic() + ready_within
    while not path.is_socket():
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            return None
        time.sleep(0.01)
    env[ENV_SERVER] = str(path)
    env[ENV_SERVER_PREFIX] = sys.prefix
    return server
