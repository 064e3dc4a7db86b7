"""localgene jobs with ``--executor slurm`` on the real single-node SLURM cluster.

The demo job runs once with the SLURM executor (its CNVkit steps grouped into one SLURM job) and once
locally, side by side; their tables must agree. A running SLURM job is cancelled through
``localgene worker`` + ``localgene cancel``; a step given too little memory fails the job with a
message naming the step and the kill. The site profiles used are in tests/hpc/profiles/: the
test cluster has no accounting database, so they poll ``squeue`` every second.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from workflow_helpers import read_table  # noqa: E402

from localgene import settings  # noqa: E402
from localgene.jobs.status import Status  # noqa: E402
from localgene.run import timeline  # noqa: E402
from localgene.run.events import RunEvents  # noqa: E402
from localgene.run.execution import Execution  # noqa: E402
from localgene.store import Store  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

LOCALGENE = [sys.executable, "-m", "localgene"]
PROFILES = Path(__file__).resolve().parent / "profiles"
#: CNVkit steps; all run as SLURM jobs (localgene's own small rules are localrules).
CLUSTER_STEPS = {"access", "target", "antitarget", "coverage", "reference", "fix", "segment", "call",
                 "genemetrics", "sex", "scatter", "diagram", "metrics"}
TABLES = ["{s}.cnr", "{s}.cns", "{s}.call.cns"]


def _env(cluster, home: Path, profile: str | None = "fast") -> dict[str, str]:
    env = dict(cluster.env, LOCALGENE_HOME=str(home))
    env.pop("LOCALGENE_EXECUTOR", None)
    if profile:
        env["LOCALGENE_PROFILE"] = str(PROFILES / profile)
    return env


def _body(demo_data: Path, out: Path) -> Path:
    body = json.loads((demo_data / "job.json").read_text())
    body["output_dir"] = str(out)
    path = out.parent / f"{out.name}.json"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return path


def _run(job: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([*LOCALGENE, "run", str(job), "--cores", "2", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _instance(stdout: str) -> str:
    return re.search(r"^instance_id: (\S+)$", stdout, re.M).group(1)


def _slurm_jobs(snakemake_log: str) -> dict[str, str]:
    """SLURM job id -> 'step/wildcards' (or 'group/...'), from "... submitted with SLURM jobid N
    (log: .../rule_x/wc/N.log)" (group jobs: .../group_<group>_<steps>/...)."""
    found = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/(?:rule|group)_([^/]+)/(?:([^/]+)/)?"
                       r"\d+\.log\)",
                       snakemake_log)
    return {jobid: f"{rule}/{wc}" for jobid, rule, wc in found}


@pytest.fixture(scope="module")
def demo_runs(slurm_cluster, demo_data, tmp_path_factory):
    """The demo job run locally and with --executor slurm at the same time."""
    tmp = tmp_path_factory.mktemp("slurm-demo")
    local = _run(_body(demo_data, tmp / "out-local"), _env(slurm_cluster, tmp / "home-local", None))
    started = time.monotonic()
    slurm = _run(_body(demo_data, tmp / "out-slurm"), _env(slurm_cluster, tmp / "home-slurm"), "--executor", "slurm")
    out, err = slurm.communicate(timeout=3600)
    wall = time.monotonic() - started
    local_out, local_err = local.communicate(timeout=3600)
    assert local.returncode == 0, f"local run failed:\n{local_err[-3000:]}"
    assert slurm.returncode == 0, f"slurm run failed:\n{err[-3000:]}"
    homes = {"local": tmp / "home-local", "slurm": tmp / "home-slurm"}
    ids = {"local": _instance(local_out), "slurm": _instance(out)}
    return {k: homes[k] / "jobs" / ids[k] for k in ids} | {"stdout": out, "wall": wall}


def test_demo_job_runs_its_cnvkit_steps_in_a_few_grouped_slurm_jobs(slurm_cluster, demo_runs):
    job_dir = demo_runs["slurm"]
    assert "finished: 36/36 steps" in demo_runs["stdout"]
    log = (job_dir / "logs" / "snakemake.log").read_text()
    jobs = _slurm_jobs(log)
    # config/slurm groups every CNVkit step (access ... diagram, and CNVkit's metrics over every
    # sample for the report) into one group: one SLURM job, whose script ran the steps itself
    groups = sorted(name.split("/")[0].split("_")[0] for name in jobs.values())
    assert groups == ["cnvkit"], sorted(jobs.values())
    # every CNVkit step of every sample still ran, with its own log holding its cnvkit.py command
    logs = job_dir / "logs"
    step_logs = [logs / f"{step}.log" for step in ("access", "target", "antitarget", "reference", "sex", "metrics")]
    step_logs += [logs / "coverage" / f"{s}.{kind}.log" for s in ("N1", "N2", "N3", "T1", "T2")
                  for kind in ("target", "antitarget")]
    step_logs += [logs / step / f"{s}.log" for step in ("fix", "segment", "call", "genemetrics") for s in ("T1", "T2")]
    step_logs += [logs / "plots" / f"{s}.{plot}.log" for s in ("T1", "T2") for plot in ("scatter", "diagram")]
    assert len(step_logs) == 28
    for path in step_logs:
        assert "cnvkit.py " in path.read_text(), path
    comp = slurm_cluster.jobcomp()
    states = {jobid: comp.get(jobid, {}).get("JobState") for jobid in jobs}
    assert set(states.values()) == {"COMPLETED"}, states
    run_name = re.search(r"SLURM run ID: (\S+)", log).group(1)
    assert {comp[j]["Name"] for j in jobs} == {run_name}
    # localgene's own small rules ran on this machine
    for local_rule in ("check_inputs", "summary", "report", "deliver"):
        assert f"localrule {local_rule}:" in log
    # the profile the job used is kept in its folder
    profile = (job_dir / "logs" / "profile" / "config.yaml").read_text()
    assert "slurm-status-command: squeue" in profile and "coverage: cnvkit" in profile
    # one CNVkit step server for the SLURM job (CNVkit imported once there, not once per step),
    # and every CNVkit step of the timeline ran through it
    [server_log] = (logs / "cnvkit-server").glob("slurm-*.log")
    assert server_log.name == f"slurm-{next(iter(jobs))}.log"
    server_text = server_log.read_text()
    assert "imported CNVkit" in server_text and server_text.rstrip().endswith("stopped")
    # started by the job's script before its Snakemake (CNVkit imported while Snakemake starts)
    assert f"started by SLURM job {next(iter(jobs))}'s script, before its Snakemake" in server_text
    cnvkit_steps = {"access", "target", "antitarget", "coverage", "reference", "sex", "fix", "segment", "call",
                    "genemetrics", "scatter", "diagram", "metrics"}
    records = [r for r in timeline.read(job_dir / timeline.TIMELINE) if r["step"] in cnvkit_steps]
    assert {r["step"] for r in records} == cnvkit_steps
    assert {r["runner"] for r in records} == {"server"}, [(r["step"], r["runner"]) for r in records]
    # the summary's CBS check too (a step of the group: the submitting machine has no server,
    # so CNVkit's import is not paid again after the SLURM job)
    forked = [r["runner"] for r in timeline.read(job_dir / timeline.TIMELINE) if r["step"] == "segment_check"]
    assert forked == ["server"], forked
    print(f"slurm demo run: {demo_runs['wall']:.0f} s wall, {len(jobs)} SLURM jobs")


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("sample", ["T1", "T2"])
def test_slurm_results_equal_the_local_run(demo_runs, sample, table):
    name = table.format(s=sample)
    ours = read_table(demo_runs["slurm"] / "results" / "samples" / name)
    theirs = read_table(demo_runs["local"] / "results" / "samples" / name)
    assert list(ours.columns) == list(theirs.columns)
    assert len(ours) == len(theirs)
    for column in ours.columns:
        if pd.api.types.is_numeric_dtype(theirs[column]):
            pd.testing.assert_series_equal(ours[column], theirs[column], check_exact=False, rtol=1e-9,
                                           obj=f"{name}:{column}")
        else:
            assert ours[column].tolist() == theirs[column].tolist(), f"{name}:{column}"


def test_a_step_with_too_little_memory_fails_the_job_naming_step_and_kill(slurm_cluster, demo_data, tmp_path):
    job = _body(demo_data, tmp_path / "out")
    proc = _run(job, _env(slurm_cluster, tmp_path / "home", "tiny-coverage"), "--executor", "slurm")
    out, err = proc.communicate(timeout=3600)
    assert proc.returncode != 0
    # the profile groups the coverages apart from the other steps: the group job gets 50 MB per
    # coverage it runs at once (the group job is killed as a whole: the message names the steps
    # it held)
    message = re.search(r"(?:step 'coverage' \(sample=\w+\)|group 'coverage' \(coverage for sample=\w+(?:, sample=\w+)*\))"
                        r" was killed by SLURM: out of memory \((\d+) MB > (\d+) MB limit; raise the step's mem_mb\)",
                        err)
    assert message, err[-3000:]
    limit = int(message.group(2))
    assert limit in (50, 100) and int(message.group(1)) > limit
    instance_id = _instance(out)
    record = Store.open(settings.load({"LOCALGENE_HOME": str(tmp_path / "home")})).find(instance_id)
    assert record.status is Status.FAILED and "killed by SLURM" in record.message
    log = (tmp_path / "home" / "jobs" / instance_id / "logs" / "snakemake.log").read_text()
    jobs = _slurm_jobs(log)
    assert not {r["id"] for r in slurm_cluster.squeue()} & set(jobs)
    comp = slurm_cluster.jobcomp()
    assert any(comp.get(j, {}).get("JobState") == "FAILED" for j, n in jobs.items() if n.startswith("coverage"))


def test_cancel_of_a_running_slurm_job_leaves_nothing_in_squeue(slurm_cluster, demo_data, tmp_path):
    home = tmp_path / "home"
    env = _env(slurm_cluster, home)
    job = _body(demo_data, tmp_path / "out")
    sub = subprocess.run([*LOCALGENE, "submit", str(job)], env=env, capture_output=True, text=True, timeout=600)
    assert sub.returncode == 0, sub.stderr
    instance_id = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", sub.stdout).group(0)
    worker = subprocess.Popen([*LOCALGENE, "worker", "--executor", "slurm", "--slots", "1", "--cores", "2",
                               "--until-idle"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    store = Store.open(settings.load({"LOCALGENE_HOME": str(home)}))
    snakemake_log = home / "jobs" / instance_id / "logs" / "snakemake.log"
    try:
        # Wait until a CNVkit step runs on the cluster and suspend it there (scontrol suspend), so
        # that it cannot finish on its own before the cancel reaches it: demo steps take seconds.
        deadline = time.monotonic() + 1800
        held = None
        while held is None and time.monotonic() < deadline:
            jobs = _slurm_jobs(snakemake_log.read_text()) if snakemake_log.exists() else {}
            for row in slurm_cluster.squeue():
                if row["id"] in jobs and row["state"] == "RUNNING":
                    if slurm_cluster.run("scontrol", "suspend", row["id"], check=False).returncode == 0:
                        held = row["id"]
                        break
            else:
                time.sleep(0.2)
        if held is None:
            pytest.fail(f"no SLURM job of {instance_id} was seen running in squeue")
        assert {r["id"]: r["state"] for r in slurm_cluster.squeue()}.get(held) == "SUSPENDED"
        assert store.find(instance_id).status is Status.RUNNING
        cancel = subprocess.run([*LOCALGENE, "cancel", instance_id], env=env, capture_output=True, text=True,
                                timeout=600)
        assert cancel.returncode == 0, cancel.stderr
        # the promise, waited on (not timed): CANCELLED only once nothing of it is in squeue
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not store.find(instance_id).status.is_final:
            time.sleep(0.5)
        assert store.find(instance_id).status is Status.CANCELLED
        left = {r["id"] for r in slurm_cluster.squeue()} & set(_slurm_jobs(snakemake_log.read_text()))
        assert not left, f"SLURM jobs of the cancelled job still queued: {left}"
        assert slurm_cluster.jobcomp().get(held, {}).get("JobState") == "CANCELLED"
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=600)


def test_slurm_jobs_a_stopped_run_left_behind_are_cancelled(slurm_cluster, tmp_path, monkeypatch):
    """The safety net after Snakemake stops without success: every job still queued under the
    run's SLURM name is scancel-ed, and only those (Snakemake can miss a job submitted during
    its status poll when the interrupt comes)."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    script = tmp_path / "wait.sh"
    script.write_text("#!/bin/sh\nsleep 300\n")
    run_id = "3f1d7c52-0f0e-4a55-9d7e-5b2a8d0c9e11"

    def sbatch(name: str) -> str:
        proc = slurm_cluster.run("sbatch", "--parsable", "--mem=50", "-t", "5", f"--job-name={name}",
                                 "-o", "/dev/null", str(script), cwd=tmp_path)
        return proc.stdout.strip().split(";")[0]

    ours = [sbatch(run_id), sbatch(run_id)]
    other = sbatch("another-run")
    try:
        # the run's events as localgene's logger plugin writes them (docs/events.md)
        events = RunEvents().extend([{"event": "executor_run", "run_id": run_id},
                                     {"event": "executor_job_submitted", "jobid": "5", "external_jobid": ours[0],
                                      "log": f"{tmp_path}/.snakemake/slurm_logs/rule_wait/{ours[0]}.log"}])
        assert Execution().stop_leftovers(events) == []  # local execution: nothing to do
        assert sorted(Execution(executor="slurm").stop_leftovers(events)) == sorted(ours)
        queued = {r["id"] for r in slurm_cluster.squeue()}
        assert not queued & set(ours) and other in queued
        assert Execution(executor="slurm").stop_leftovers(events) == []  # nothing left the second time
    finally:
        slurm_cluster.run("scancel", *ours, other, check=False)
