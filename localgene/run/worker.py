"""The worker: takes queued jobs first come first served while it has free slots, starts each as
its own job process (``python -m localgene.run.runner ID``, a new session), heartbeats and
escalates cancels (:data:`~localgene.run.runner.CANCEL_ESCALATION`)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from localgene import settings as settings_mod
from localgene.jobs.status import Status
from localgene.run.execution import Execution
from localgene.run.runner import CANCEL_ESCALATION, open_cache
from localgene.store import Store, pid_alive, this_host

log = logging.getLogger("localgene.run.runner")  # one logger for the job process and its worker


@dataclass
class Worker:
    """Runs queued jobs, ``slots`` at a time, and supervises cancel and crash recovery."""

    store: Store
    cfg: settings_mod.Settings
    slots: int
    cores: int
    tick: float = 0.5
    extra_args: tuple[str, ...] = ()
    execution: Execution = field(default_factory=Execution)
    children: dict[int, str] = field(default_factory=dict)  # pid -> instance_id
    cancel_seen: dict[str, float] = field(default_factory=dict)
    stopping: bool = False

    @property
    def name(self) -> str:
        return f"{this_host()}:{os.getpid()}"

    def spawn(self, instance_id: str) -> int:
        import subprocess

        log_path = self.cfg.job_dir(instance_id) / "logs" / "runner.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "localgene.run.runner", instance_id, "--cores", str(self.cores),
                 *self.execution.env_args(), *[f"--snakemake-arg={a}" for a in self.extra_args]],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=dict(os.environ, LOCALGENE_HOME=str(self.cfg.home)),
            )
        self.children[proc.pid] = instance_id
        return proc.pid

    def reap(self) -> None:
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                instance_id = self.children.pop(pid)
                # Anything left of its process group is stray: stop it.
                try:
                    os.killpg(pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
                log.info("job %s: runner exited (%s)", instance_id, os.waitstatus_to_exitcode(status))

    def stop_cancelled(self) -> None:
        canceling = [j for j in self.store.active_jobs() if j.status == Status.CANCELING]
        now = time.monotonic()
        for job in canceling:
            pid = job.runner_pid
            if pid is None or (job.runner_host and job.runner_host != this_host()):
                continue
            first = self.cancel_seen.setdefault(job.instance_id, now)
            for after, sig in CANCEL_ESCALATION:
                key = f"{job.instance_id}:{sig}"
                if now - first >= after and key not in self.cancel_seen:
                    self.cancel_seen[key] = now
                    try:
                        os.killpg(pid, sig)
                        log.info("job %s: sent %s to its processes", job.instance_id, signal.Signals(sig).name)
                    except (ProcessLookupError, PermissionError):
                        pass

    def launch(self) -> None:
        while not self.stopping:
            job = self.store.claim_next_launching(self.name, slots=self.slots)
            if job is None:
                return
            pid = self.spawn(job.instance_id)
            self.store.set_runner(job.instance_id, pid, this_host())
            log.info("job %s: started (pid %d)", job.instance_id, pid)

    def step(self) -> None:
        self.reap()
        for job in self.store.recover_orphans(pid_alive):
            log.info("job %s: %s (%s)", job.instance_id, job.status, job.message)
            if job.status.is_final:
                open_cache(self.cfg).release(job.instance_id)
        self.stop_cancelled()
        self.launch()

    def run(self, *, until_idle: bool = False) -> None:
        def stop(signum, frame):  # noqa: ARG001
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.cfg.ensure_dirs()
        while not self.stopping:
            self.step()
            if until_idle and not self.children and not self.store.active_jobs():
                break
            time.sleep(self.tick)
        # Jobs keep running in their own sessions; the next worker adopts them.


