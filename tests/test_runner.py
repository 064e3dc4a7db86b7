"""The runner with real processes: workers, job process groups, cancel, crashes, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localgene import settings as settings_mod
from localgene.status import Status
from localgene.store import Store

pytestmark = pytest.mark.workflow


def group_members(pgid: int) -> list[str]:
    """Command lines of the live (non-zombie) processes in a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            members.append(cmd.strip())
    return members


class Env:
    def __init__(self, home: Path):
        self.home = home
        self.env = dict(os.environ, LOCALGENE_HOME=str(home), LOCALGENE_SLOTS="1")
        self.store = Store.open(settings_mod.load({"LOCALGENE_HOME": str(home)}).ensure_dirs())
        self.workers: list[subprocess.Popen] = []

    def cli(self, *args, check=True):
        proc = subprocess.run([sys.executable, "-m", "localgene", *args], capture_output=True, text=True,
                              env=self.env, timeout=300)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    def submit(self, body: dict) -> str:
        path = self.home / f"job-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(body))
        return self.cli("submit", str(path)).stdout.strip()

    def start_worker(self) -> subprocess.Popen:
        log = open(self.home / f"worker-{len(self.workers)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "localgene", "worker", "--cores", "2"], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def wait(self, instance_id: str, pred, timeout=240.0, what=""):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.store.find(instance_id)
            if pred(job):
                return job
            time.sleep(0.3)
        pytest.fail(f"timed out waiting for {what}: job is {job.status} {job.progress} {job.message}")

    def close(self):
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
                w.wait(30)


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path / "home")
    yield e
    e.close()
    # Leave nothing running: every job process group of this test is gone.
    for job in e.store.active_jobs():
        if job.runner_pid:
            try:
                os.killpg(job.runner_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def body(demo_data, tmp_path):
    data = json.loads((demo_data / "job.json").read_text())
    data["output_dir"] = str(tmp_path / "out")
    return data


def progress_at_least(n):
    return lambda job: job.status is Status.RUNNING and int(job.progress.split("/")[0]) >= n


def test_worker_runs_queued_jobs_first_come_first_served_and_cancels_a_running_one(env, body):
    first = env.submit(body)
    second = env.submit(body)
    env.start_worker()
    job = env.wait(first, progress_at_least(8), what="first job running coverage")
    assert env.store.find(second).status is Status.LAUNCHING  # one slot: the second waits
    pgid = job.runner_pid
    assert group_members(pgid), "the job's processes run in its own process group"

    env.cli("cancel", first)
    done = env.wait(first, lambda j: j.status.is_final, timeout=90, what="cancel")
    assert done.status is Status.CANCELLED
    assert group_members(pgid) == [], "a CNVkit/R/Snakemake process of the cancelled job survived"
    # The queue moves on.
    env.wait(second, lambda j: j.status is not Status.LAUNCHING, timeout=60, what="second job starting")
    env.cli("cancel", second)
    env.wait(second, lambda j: j.status.is_final, timeout=90, what="second cancel")
    # Final states never change; cancelling again is refused with a clear error.
    again = env.cli("cancel", first, check=False)
    assert again.returncode == 2 and "CANCELLED" in again.stderr and "Traceback" not in again.stderr


def test_a_runner_killed_with_sigkill_is_not_left_running_and_the_queue_survives(env, body):
    instance_id = env.submit(body)
    queued = env.submit(body)
    worker = env.start_worker()
    job = env.wait(instance_id, progress_at_least(5), what="job running")
    pgid = job.runner_pid
    # The machine "crashes": worker and every process of the job die at once.
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    os.killpg(pgid, signal.SIGKILL)
    time.sleep(0.5)
    assert env.store.find(instance_id).status is Status.RUNNING  # nobody has noticed yet
    env.start_worker()  # the restart
    failed = env.wait(instance_id, lambda j: j.status.is_final, timeout=30, what="recovery")
    assert failed.status is Status.FAILED
    assert "runner died" in failed.message and "resubmitted" in failed.message
    # The job that was queued at the crash still runs.
    env.wait(queued, progress_at_least(1), timeout=60, what="queued job running after restart")
    env.cli("cancel", queued)
    env.wait(queued, lambda j: j.status.is_final, timeout=90, what="cancel")


def test_a_job_process_killed_alone_is_failed_and_its_children_stopped(env, body):
    instance_id = env.submit(body)
    env.start_worker()
    job = env.wait(instance_id, progress_at_least(5), what="job running")
    os.kill(job.runner_pid, signal.SIGKILL)  # only the job's own process; Snakemake lives on
    failed = env.wait(instance_id, lambda j: j.status.is_final, timeout=60, what="failure")
    assert failed.status is Status.FAILED
    deadline = time.monotonic() + 30
    while group_members(job.runner_pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert group_members(job.runner_pid) == []


def test_a_corrupt_bam_fails_the_job_with_a_readable_message(env, body, tmp_path, demo_data):
    broken = tmp_path / "T1.bam"
    broken.write_bytes((demo_data / "T1.bam").read_bytes()[:40_000])
    body["experimental_inputs"][0] = str(broken)
    instance_id = env.submit(body)
    env.start_worker()
    failed = env.wait(instance_id, lambda j: j.status.is_final, timeout=120, what="failure")
    assert failed.status is Status.FAILED
    assert failed.message.startswith("step 'sample_bam' (sample=T1) failed: experimental_inputs[0]: ")
    assert "Traceback" not in failed.message
    shown = json.loads(env.cli("show", instance_id).stdout)
    assert shown["status"] == "FAILED" and shown["message"] == failed.message
