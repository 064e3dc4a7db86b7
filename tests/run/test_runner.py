"""The runner with real processes: workers, job process groups, cancel, crashes, failures."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localgene import settings as settings_mod
from localgene.jobs.status import Status
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


def steps_in(log_text: str) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]:
    """(started steps, {finished step: its log}) of a Snakemake log; a step is (rule, wildcards).

    A step's block is ``localrule X:`` and the indented lines after it (log, jobid, wildcards)."""
    started, finished, by_jobid, logs = set(), {}, {}, {}
    block: dict[str, str] | None = None

    def close() -> None:
        if block is not None:
            step = (block["rule"], block.get("wildcards", ""))
            started.add(step)
            by_jobid[block.get("jobid")] = step
            logs[step] = block.get("log", "")

    for line in log_text.splitlines():
        if block is not None and line[:1].isspace() and ":" in line:
            key, _, value = line.strip().partition(": ")
            block[key] = value.split(",")[0].strip() if key == "log" else value.strip()
            continue
        close()
        block = None
        if m := re.match(r"^(?:local)?rule (\w+):$", line):
            block = {"rule": m.group(1)}
        elif m := re.match(r"^Finished jobid: (\d+)", line):
            step = by_jobid[m.group(1)]
            finished[step] = logs[step]
    close()
    return started, finished


def test_a_job_killed_with_its_worker_is_resumed_in_its_folder_and_equals_an_uninterrupted_run(env, body):
    from workflow_helpers import assert_same_table

    instance_id = env.submit(body)
    uninterrupted = env.submit(body)  # the same job, queued behind it: the run to compare with
    worker = env.start_worker()
    job = env.wait(instance_id, lambda j: j.status is Status.RUNNING
                   and (env.home / "jobs" / instance_id / "logs" / "coverage").is_dir()
                   and int(j.progress.split("/")[0]) >= 12, what="job running its coverage steps")
    pgid = job.runner_pid
    # The machine "crashes" mid-coverage: the worker and every process of the job die at once.
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert group_members(pgid) == []
    job_dir = env.home / "jobs" / instance_id
    first_log = (job_dir / "logs" / "snakemake.log").read_text()
    _, done_before = steps_in(first_log)
    assert any(rule == "access" for rule, _ in done_before), "some steps had finished before the kill"
    step_logs = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (job_dir / "logs").rglob("*.log")
                 if p.name != "snakemake.log"}

    # Nobody is running; reading the job already tells the truth (repair on read).
    shown = json.loads(env.cli("show", instance_id).stdout)
    assert shown["status"] == "LAUNCHING" and "to be resumed in its folder (attempt 2 of 3)" in shown["message"]

    env.start_worker()  # the restart
    done = env.wait(instance_id, lambda j: j.status.is_final, timeout=900, what="the resumed job")
    assert done.status is Status.FINISHED, done.message
    resumed_log = (job_dir / "logs" / "snakemake.log").read_text()
    assert resumed_log.startswith(first_log)
    second = resumed_log[len(first_log):]
    assert second.startswith("localgene: attempt 2: resuming in this folder (finished steps are kept); "
                             f"after: pid {pgid} on ")
    started_after, _ = steps_in(second)
    assert started_after and not (started_after & set(done_before)), "a finished step was run again"
    assert any(rule == "coverage" for rule, _ in started_after)  # the cut-short ones were rerun
    kept = [job_dir / log for log in done_before.values() if log]
    rewritten = [str(p.relative_to(job_dir)) for p in kept if step_logs[p] != (p.stat().st_mtime_ns, p.read_bytes())]
    assert kept and not rewritten, f"the logs of steps that had finished were written again: {rewritten}"

    other = env.wait(uninterrupted, lambda j: j.status.is_final, timeout=900, what="the uninterrupted job")
    assert other.status is Status.FINISHED, other.message
    ours, theirs = job_dir / "results", env.home / "jobs" / uninterrupted / "results"
    for sample in ("T1", "T2"):
        for name in (f"{sample}.cnr", f"{sample}.cns", f"{sample}.call.cns"):
            assert_same_table(ours / "samples" / name, theirs / "samples" / name)
    for name in sorted(p.name for p in (theirs / "coverage").glob("*.cnn")):
        assert_same_table(ours / "coverage" / name, theirs / "coverage" / name)
    assert_same_table(ours / "reference.cnn", theirs / "reference.cnn")
    assert (Path(body["output_dir"]) / instance_id / "samples" / "T1.call.cns").is_file()


def test_a_job_process_killed_alone_is_failed_and_its_children_stopped(env, body):
    env.env["LOCALGENE_MAX_ATTEMPTS"] = "1"  # no resume: the first death fails it
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
