"""SLURM as a new user meets it (issue 15), on the real test cluster: no accounting database,
no account, no site profile.

The demo job with ``--executor slurm`` and no site profile finishes and calls the planted
events; ``localgene check --executor slurm`` prints the cluster's facts and each step's request;
with the controller stopped a job fails before submitting anything, saying so; a SLURM job
cancelled behind the plugin's back fails the job naming the step and the SLURM job id; and a job
whose end the plugin cannot read (status command ``sacct`` without accounting) fails within
``LOCALGENE_SLURM_LOST_SECONDS`` instead of waiting forever.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import slurm_cluster as sc  # noqa: E402
from workflow_helpers import expected_cn_ok, overlap_cn, read_table  # noqa: E402

from localgene import settings  # noqa: E402
from localgene.jobs.status import Status  # noqa: E402
from localgene.store import Store  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

LOCALGENE = [sys.executable, "-m", "localgene"]
PROFILES = Path(__file__).resolve().parent / "profiles"
#: Generous bound for a whole demo job on a loaded 2-core machine (not a timing assertion).
JOB_BOUND = 1800


def _env(cluster, home: Path, profile: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(cluster.env, LOCALGENE_HOME=str(home), **extra)
    env.pop("LOCALGENE_EXECUTOR", None)
    env.pop("LOCALGENE_PROFILE", None)
    if profile:
        env["LOCALGENE_PROFILE"] = str(PROFILES / profile)
    return env


def _body(demo_data: Path, folder: Path) -> Path:
    body = json.loads((demo_data / "job.json").read_text())
    body["output_dir"] = str(folder / "out")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.json"
    path.write_text(json.dumps(body))
    return path


def _instance(stdout: str) -> str:
    return re.search(r"^instance_id: (\S+)$", stdout, re.M).group(1)


def _submitted(log: str) -> dict[str, str]:
    """SLURM job id -> what it runs (rule_x or group_x, from its log path)."""
    found = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/([^/]+)/", log)
    return dict(found)


def _record(home: Path, instance_id: str):
    return Store.open(settings.load({"LOCALGENE_HOME": str(home)})).find(instance_id)


@pytest.fixture(scope="module")
def no_profile_run(slurm_cluster, demo_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("no-profile")
    home = folder / "home"
    proc = subprocess.run([*LOCALGENE, "run", str(_body(demo_data, folder)), "--cores", "2", "--executor", "slurm"],
                          env=_env(slurm_cluster, home), capture_output=True, text=True, timeout=JOB_BOUND)
    return proc, home


def test_demo_job_with_no_site_profile_finishes_and_calls_the_planted_events(slurm_cluster, no_profile_run,
                                                                              demo_data):
    proc, home = no_profile_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"^finished: (\d+)/\1 steps", proc.stdout, re.M), proc.stdout[-2000:]  # every step ran
    job_dir = home / "jobs" / _instance(proc.stdout)
    log = (job_dir / "logs" / "snakemake.log").read_text()
    line = next(r for r in log.splitlines() if r.startswith("localgene: SLURM: "))
    assert "accounting: none (Slurm accounting storage is disabled)" in line
    assert "partition: debug (the cluster's default)" in line and "status command: squeue (no accounting)" in line
    assert "trying to guess" not in log and "invalid option" not in log  # no account-guess noise
    assert "Falling back to 'sacct'" not in log
    profile = (job_dir / "logs" / "profile" / "config.yaml").read_text()
    assert "slurm-status-command: squeue" in profile
    # small steps grouped: a handful of SLURM jobs, every one COMPLETED under the run's name
    jobs = _submitted(log)
    assert 1 <= len(jobs) <= 8, jobs
    assert any(kind.startswith("group_") for kind in jobs.values()), jobs
    comp = slurm_cluster.jobcomp()
    assert {comp.get(j, {}).get("JobState") for j in jobs} == {"COMPLETED"}
    truth = json.loads((demo_data / "truth.json").read_text())
    for sample in ("T1", "T2"):
        calls = read_table(job_dir / "results" / "samples" / f"{sample}.call.cns")
        for event in truth["samples"][sample]["events"]:
            observed = overlap_cn(calls, event["chrom"], event["start"], event["end"])
            assert expected_cn_ok(event["kind"], event["cn"], observed), (sample, event["kind"], observed)


def test_check_prints_the_cluster_facts_and_what_each_step_asks_for(slurm_cluster, demo_data, tmp_path):
    proc = subprocess.run([*LOCALGENE, "check", str(_body(demo_data, tmp_path)), "--cores", "2",
                           "--executor", "slurm"], env=_env(slurm_cluster, tmp_path / "home"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["execution"]
    assert report["cluster"]["reachable"] and not report["cluster"]["accounting"]
    assert report["cluster"]["partitions"] == ["debug"] and report["cluster"]["default_partition"] == "debug"
    assert "status command: squeue (no accounting)" in report["chosen"]
    steps = report["steps"]
    coverage = [s for s in steps if s["step"] == "coverage"]
    # one coverage step per BAM (it writes the BAM's target and antitarget tables)
    assert len(coverage) == 5 and all(s["group"] == "cnvkit" and s["slurm_partition"] == "debug" for s in coverage)
    # mem_mb of coverage grows with its BAM: 1024 + MB / 8
    t1 = next(s for s in coverage if s["wildcards"] == "sample=T1")
    assert t1["mem_mb"] == 1024 + int((demo_data / "T1.bam").stat().st_size / 1e6 / 8)
    assert {s["step"]: s["mem_mb"] for s in steps}["segment"] == 2048
    # every step that runs on the cluster is listed, in the group config/slurm gives it
    assert {s["step"] for s in steps if s["group"] == "cnvkit"} >= {"metrics", "segment_check"}
    assert not {"check_inputs", "summary", "report", "deliver"} & {s["step"] for s in steps}
    assert not (tmp_path / "home" / "jobs").exists() or not any((tmp_path / "home" / "jobs").iterdir())


def test_with_the_controller_stopped_the_job_fails_before_submitting_anything(slurm_cluster, demo_data, tmp_path):
    home = tmp_path / "home"
    job = _body(demo_data, tmp_path)
    sc.stop_controller(slurm_cluster.root)
    try:
        proc = subprocess.run([*LOCALGENE, "run", str(job), "--cores", "2", "--executor", "slurm"],
                              env=_env(slurm_cluster, home), capture_output=True, text=True, timeout=600)
    finally:
        sc.start_controller(slurm_cluster.root)  # always restored: the cluster is shared
    assert proc.returncode != 0
    message = proc.stderr.strip().splitlines()[-1]
    assert "cannot run on SLURM, nothing was submitted: the SLURM controller does not answer: " in message
    assert "Unable to contact slurm controller" in message and "is slurmctld running" in message
    assert "Traceback" not in proc.stderr
    record = _record(home, _instance(proc.stdout))
    assert record.status is Status.FAILED and "the SLURM controller does not answer" in record.message
    log = (home / "jobs" / record.instance_id / "logs" / "snakemake.log")
    assert not log.exists() or "submitted with SLURM" not in log.read_text()
    assert slurm_cluster.node_state() in ("idle", "mixed", "allocated")  # back for everyone else


def _wait_for_running_job(cluster, log_path: Path, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + JOB_BOUND
    while time.monotonic() < deadline and proc.poll() is None:
        jobs = _submitted(log_path.read_text()) if log_path.exists() else {}
        running = [r["id"] for r in cluster.squeue() if r["id"] in jobs and r["state"] == "RUNNING"]
        if running:
            return running[0]
        time.sleep(0.5)
    pytest.fail("no SLURM job of the run was seen running")


def _job_log(home: Path) -> Path:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        logs = list((home / "jobs").glob("*/logs/snakemake.log")) if (home / "jobs").exists() else []
        if logs:
            return logs[0]
        time.sleep(0.5)
    pytest.fail("the job never started")


def test_a_slurm_job_cancelled_from_outside_fails_the_job_naming_step_and_id(slurm_cluster, demo_data, tmp_path):
    home = tmp_path / "home"
    proc = subprocess.Popen([*LOCALGENE, "run", str(_body(demo_data, tmp_path)), "--cores", "2", "--executor",
                             "slurm"], env=_env(slurm_cluster, home, "fast", LOCALGENE_SLURM_LOST_SECONDS="120"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log_path = _job_log(home)
        victim = _wait_for_running_job(slurm_cluster, log_path, proc)
        slurm_cluster.run("scancel", victim)
        out, err = proc.communicate(timeout=JOB_BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    message = err.strip().splitlines()[-1]
    assert f"SLURM job {victim}" in message and "CANCELLED" in message, message
    assert re.search(r"(step|group) '\w+", message), message
    record = _record(home, _instance(out))
    assert record.status is Status.FAILED and f"SLURM job {victim}" in record.message
    run_jobs = set(_submitted(log_path.read_text()))
    assert not {r["id"] for r in slurm_cluster.squeue()} & run_jobs


def test_a_job_whose_end_the_plugin_cannot_read_fails_within_the_bound(slurm_cluster, demo_data, tmp_path):
    home = tmp_path / "home"
    started = time.monotonic()
    proc = subprocess.run([*LOCALGENE, "run", str(_body(demo_data, tmp_path)), "--cores", "2", "--executor", "slurm"],
                          env=_env(slurm_cluster, home, "sacct", LOCALGENE_SLURM_LOST_SECONDS="20"),
                          capture_output=True, text=True, timeout=JOB_BOUND)
    assert proc.returncode != 0, "the job cannot finish: the plugin never reads a job's end here"
    message = proc.stderr.strip().splitlines()[-1]
    found = re.search(r"(?:step|group) '[^']+'(?: \([^)]*\))?: SLURM job (\d+) is no longer queued or running \((it left squeue|squeue shows "
                      r"it COMPLETED)\) but Snakemake's SLURM plugin never read its final state; gave up after 20 s "
                      r"\(LOCALGENE_SLURM_LOST_SECONDS\)", message)
    assert found, message
    log = (home / "jobs" / _instance(proc.stdout) / "logs" / "snakemake.log").read_text()
    assert found.group(1) in _submitted(log)
    assert "status command: sacct (set in the profile)" in log
    record = _record(home, _instance(proc.stdout))
    assert record.status is Status.FAILED and "never read its final state" in record.message
    assert not {r["id"] for r in slurm_cluster.squeue()} & set(_submitted(log))
    print(f"lost SLURM job noticed; job ended {time.monotonic() - started:.0f} s after start")
