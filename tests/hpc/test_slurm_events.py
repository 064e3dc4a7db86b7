"""The events localgene's logger plugin writes for a run on the real SLURM cluster
(docs/events.md): the run ID, each submission, grouped steps, a step killed for memory, and the
failure message localgene derives from those events alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import slurm_cluster as sc
from test_slurm_cluster import FAST, PROFILE, SNAKEFILE

from localgene.run.events import EventFile, RunEvents, events_path
from localgene.run.step_failures import failure_message

pytestmark = pytest.mark.slurm


def run(cluster: sc.SlurmCluster, workdir: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    argv = [sys.executable, "-m", "localgene.run.snakemake_main", "--logger", "localgene",
            "--logger-localgene-path", str(events_path(workdir)),
            "--snakefile", str(SNAKEFILE), "--directory", str(workdir), "--profile", str(PROFILE),
            "--executor", "slurm", "--jobs", "4",
            "--default-resources", f"slurm_partition={cluster.partition}", "mem_mb=500", "runtime=10",
            *FAST, *args]
    proc = subprocess.run(argv, env=cluster.env, cwd=workdir, capture_output=True, text=True, timeout=3600)
    events = [json.loads(line) for line in events_path(workdir).read_text().splitlines()]
    return proc, events


def test_a_step_killed_for_memory_is_explained_from_the_events_alone(slurm_cluster, tmp_path):
    proc, events = run(slurm_cluster, tmp_path, "hog.txt")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    state = RunEvents().extend(events)
    [run_id] = state.run_ids
    [submitted] = state.submitted
    job_id = submitted["external_jobid"]
    assert f"Job {submitted['jobid']} has been submitted with SLURM jobid {job_id}" in text
    assert slurm_cluster.jobcomp()[job_id]["Name"] == run_id
    [error] = state.job_errors
    assert error["rule"] == "hog" and error["aux"]["external_jobid"] == job_id
    assert error["message"].startswith(f"SLURM-job '{job_id}' failed, SLURM status is: ")
    slurm_log = f".snakemake/slurm_logs/rule_hog/{job_id}.log"
    assert any(p.endswith(slurm_log) for p in error["log"])
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "logs" / "snakemake.log").write_text("")  # nothing to read but the events
    message = failure_message(tmp_path / "logs" / "snakemake.log", tmp_path)
    assert message.startswith("step 'hog' was killed by SLURM: out of memory (")
    assert message.endswith(f" MB > 300 MB limit; raise the step's mem_mb) [SLURM job {job_id}; log: {slurm_log}]")


def test_grouped_steps_carry_their_group_and_the_group_jobs_submission(slurm_cluster, tmp_path):
    proc, events = run(slurm_cluster, tmp_path, "--groups", "count=counts", "--group-components", "counts=2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [group] = [e for e in events if e["event"] == "group_info"]
    assert group["group"] == "counts" and len(group["jobs"]) == 2
    counts = [e for e in events if e["event"] == "job_info" and e["rule"] == "count"]
    assert {e["wildcards"]["sample"] for e in counts} == {"a", "b"}
    assert all(e["group"] == "counts" and e["in_group"] for e in counts)
    assert {e["jobid"] for e in counts} == set(group["jobs"])
    groups = [e for e in events if e["event"] == "executor_job_submitted" and "/group_counts" in e["log"]]
    assert len(groups) == 1  # both steps in one SLURM job
    finished = {e["jobid"] for e in events if e["event"] == "job_finished"}
    assert set(group["jobs"]) <= finished
    state = RunEvents().extend(EventFile(events_path(tmp_path)).new())
    assert state.done == state.total == 5 and state.running() == []
