"""Every way a job process can be stopped stops the whole job (issue 12, items 0 and 3).

SIGINT, SIGTERM (timeout, systemd, batch schedulers) and SIGHUP (a closed terminal) sent to
``localgene run`` alone, with the local and the SLURM executor, while CNVkit steps run: the job
ends CANCELLED with the signal as the reason, no process of it is left (no orphan
``python -m snakemake``) and nothing of its run is left in ``squeue``. The same for a worker's job
process (``python -m localgene.run.runner``). And cancel's promise under load: ten jobs cancelled at
staggered moments while busy loops load the machine all end CANCELLED with nothing left.
"""

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

from localgene import settings
from localgene.jobs.status import Status
from localgene.store import Store

pytestmark = [pytest.mark.workflow]

LOCALGENE = [sys.executable, "-m", "localgene"]
PROFILES = Path(__file__).resolve().parent / "profiles"
#: Generous bounds for a loaded 2-core machine; the tests wait on conditions, never on a delay.
START_BOUND = 900
STOP_BOUND = 600


def _env(home: Path, cluster=None) -> dict[str, str]:
    env = dict(cluster.env if cluster else os.environ, LOCALGENE_HOME=str(home))
    env.pop("LOCALGENE_EXECUTOR", None)
    env.pop("LOCALGENE_PROFILE", None)
    if cluster:
        env["LOCALGENE_PROFILE"] = str(PROFILES / "fast")
    return env


def _body(demo_data: Path, folder: Path) -> Path:
    body = json.loads((demo_data / "job.json").read_text())
    body["output_dir"] = str(folder / "out")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.json").write_text(json.dumps(body))
    return folder / "job.json"


def session_members(sid: int) -> list[str]:
    """Command lines of live processes in session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if fields[0] != "Z" and int(fields[3]) == sid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _run_ids(log: str) -> list[str]:
    return re.findall(r"^SLURM run ID: (\S+)$", log, re.M)


def _wait_until(what: str, predicate, bound: float, interval: float = 0.5):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"not within {bound:.0f} s: {what}")


def _steps_running(log_path: Path, cluster) -> bool:
    """A CNVkit step is under way: a SLURM job of the run RUNNING, or (locally) a coverage started."""
    if not log_path.exists():
        return False
    log = log_path.read_text()
    if cluster is None:
        return "rule coverage:" in log or "Group job coverage" in log
    ids = set(re.findall(r"submitted with SLURM jobid (\d+)", log))
    return any(r["id"] in ids and r["state"] == "RUNNING" for r in cluster.squeue())


def _assert_nothing_left(sid: int, log_path: Path, cluster) -> None:
    _wait_until("the job's processes to be gone", lambda: not session_members(sid), 60)
    if cluster is not None:
        for run_id in _run_ids(log_path.read_text()):
            assert cluster.squeue(f"--name={run_id}") == [], f"SLURM jobs of run {run_id} left in squeue"


@pytest.mark.parametrize("executor", ["local", "slurm"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_to_localgene_run_cancels_the_whole_job(request, demo_data, tmp_path, sig, executor):
    cluster = request.getfixturevalue("slurm_cluster") if executor == "slurm" else None
    home = tmp_path / "home"
    argv = [*LOCALGENE, "run", str(_body(demo_data, tmp_path)), "--cores", "2"]
    if cluster:
        argv += ["--executor", "slurm"]
    proc = subprocess.Popen(argv, env=_env(home, cluster), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        log_path = _wait_until("the job folder", lambda: next(iter((home / "jobs").glob("*/logs/snakemake.log")), None)
                               if (home / "jobs").exists() else None, START_BOUND)
        _wait_until("a CNVkit step to run", lambda: _steps_running(log_path, cluster) or proc.poll() is not None,
                    START_BOUND)
        assert proc.poll() is None, "the job ended before it could be stopped"
        os.kill(proc.pid, sig)  # the job process alone, not its group
        out, err = proc.communicate(timeout=STOP_BOUND)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    instance_id = re.search(r"^instance_id: (\S+)$", out, re.M).group(1)
    assert f"cancelled: {instance_id}" in err and "Traceback" not in err
    record = Store.open(settings.load({"LOCALGENE_HOME": str(home)})).find(instance_id)
    assert record.status is Status.CANCELLED
    assert record.message == ("cancelled from the terminal" if sig == signal.SIGINT else f"cancelled: got {sig.name}")
    assert f"localgene: got {sig.name}: cancelling the job" in log_path.read_text()
    assert "Terminating processes on user request" in log_path.read_text()  # Snakemake's own cancel ran
    _assert_nothing_left(proc.pid, log_path, cluster)


@pytest.mark.slurm
def test_sighup_to_a_workers_job_process_cancels_the_job(slurm_cluster, demo_data, tmp_path):
    home = tmp_path / "home"
    env = _env(home, slurm_cluster)
    sub = subprocess.run([*LOCALGENE, "submit", str(_body(demo_data, tmp_path))], env=env, capture_output=True,
                         text=True, timeout=300)
    assert sub.returncode == 0, sub.stderr
    instance_id = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", sub.stdout).group(0)
    worker = subprocess.Popen([*LOCALGENE, "worker", "--executor", "slurm", "--slots", "1", "--cores", "2",
                               "--until-idle"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    store = Store.open(settings.load({"LOCALGENE_HOME": str(home)}))
    log_path = home / "jobs" / instance_id / "logs" / "snakemake.log"
    try:
        _wait_until("a SLURM step to run", lambda: _steps_running(log_path, slurm_cluster), START_BOUND)
        runner = store.find(instance_id).runner_pid
        os.kill(runner, signal.SIGHUP)  # the job process alone
        _wait_until("the job to end", lambda: store.find(instance_id).status.is_final, STOP_BOUND)
        record = store.find(instance_id)
        assert record.status is Status.CANCELLED and record.message == "cancelled: the job process got SIGHUP"
        _assert_nothing_left(runner, log_path, slurm_cluster)
    finally:
        worker.wait(timeout=STOP_BOUND)


@pytest.mark.slurm
def test_ten_jobs_cancelled_at_staggered_moments_under_load_leave_nothing(slurm_cluster, demo_data, tmp_path):
    home = tmp_path / "home"
    env = _env(home, slurm_cluster)
    job = _body(demo_data, tmp_path)
    ids = []
    for _ in range(10):
        sub = subprocess.run([*LOCALGENE, "submit", str(job)], env=env, capture_output=True, text=True, timeout=300)
        assert sub.returncode == 0, sub.stderr
        ids.append(re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", sub.stdout).group(0))
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]  # load the 2 cores
    worker = subprocess.Popen([*LOCALGENE, "worker", "--executor", "slurm", "--slots", "5", "--cores", "1",
                               "--until-idle"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    store = Store.open(settings.load({"LOCALGENE_HOME": str(home)}))
    runners: dict[str, int] = {}
    cancelled: list[str] = []
    moments = ("queued", "on the cluster", "launching")
    landed: dict[str, list[str]] = {m: [] for m in moments}
    try:
        # staggered: each cancel waits for its own moment (the job queued, launching, or with a
        # step on the cluster), so that they land in every state a job passes through
        for n, instance_id in enumerate(ids):
            log_path = home / "jobs" / instance_id / "logs" / "snakemake.log"
            if n % 3 == 1:
                _wait_until("a job to reach the cluster", lambda p=log_path, i=instance_id: _steps_running(p, slurm_cluster)
                            or store.find(i).status.is_final, START_BOUND)
            elif n % 3 == 2:
                _wait_until("a job to start", lambda i=instance_id: store.find(i).runner_pid
                            or store.find(i).status.is_final, START_BOUND)
            record = store.find(instance_id)
            if record.runner_pid:
                runners[instance_id] = record.runner_pid
            done = subprocess.run([*LOCALGENE, "cancel", instance_id], env=env, capture_output=True, text=True,
                                  timeout=300)
            if done.returncode == 0:
                cancelled.append(instance_id)
                landed[moments[n % 3]].append(instance_id)
            else:  # a job that ended between its moment and the cancel (a cancel is a process
                # started on a loaded machine, and a grouped SLURM demo job is one ~20-60 s run)
                assert store.find(instance_id).status is Status.FINISHED, done.stderr
        _wait_until("every job to end", lambda: all(store.find(i).status.is_final for i in ids), STOP_BOUND * 2, 1)
    finally:
        for b in busy:
            b.kill()
            b.wait()
        worker.wait(timeout=STOP_BOUND)
    states = {i: store.find(i).status for i in ids}
    # every cancel that was taken ends the job CANCELLED (never FINISHED or FAILED), cancels landed
    # at every moment (queued, launching, on the cluster: three or four jobs each), any other job
    # FINISHED
    assert {states[i] for i in cancelled} == {Status.CANCELLED}, states
    assert all(landed.values()), {"landed": landed, "states": states}
    assert {states[i] for i in ids if i not in cancelled} <= {Status.FINISHED}, states
    for instance_id, pid in runners.items():
        assert not session_members(pid), f"processes of {instance_id} left"
    for instance_id in ids:
        log_path = home / "jobs" / instance_id / "logs" / "snakemake.log"
        if log_path.exists():
            for run_id in _run_ids(log_path.read_text()):
                assert slurm_cluster.squeue(f"--name={run_id}") == [], f"SLURM jobs of {instance_id} left"
    assert len(runners) >= 3, "too few cancels landed on running jobs to test the promise"
