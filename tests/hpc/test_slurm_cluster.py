"""The real single-node SLURM cluster, and Snakemake's SLURM executor plugin proven on it.

Runs as root on a machine with Debian's `slurm-wlm` and `munge` (`make test` installs them).
The toy workflow (tests/hpc/workflow/Snakefile) is run with `--executor slurm` and the site
profile config/slurm; every job records the SLURM job id it ran under.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import slurm_cluster as sc

pytestmark = pytest.mark.slurm

HERE = Path(__file__).resolve().parent
SNAKEFILE = HERE / "workflow" / "Snakefile"
PROFILE = HERE.parents[1] / "config" / "slurm"

#: Options for a fast test run on a cluster without an accounting database. The plugin's
#: default status command is `sacct`, which only answers "accounting storage is disabled"
#: here, so it must poll `squeue`; and the first status check comes after 1 s, not 40 s.
FAST = [
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1",
    "--seconds-between-status-checks", "1",
]


def snakemake_cmd(cluster: sc.SlurmCluster, workdir: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
        "--profile", str(PROFILE),
        "--executor", "slurm", "--jobs", "4",
        "--default-resources", f"slurm_partition={cluster.partition}", "mem_mb=500", "runtime=10",
        *FAST, *args,
    ]


def run_snakemake(cluster: sc.SlurmCluster, workdir: Path, *args: str, timeout: float = 3600):
    proc = subprocess.run(snakemake_cmd(cluster, workdir, *args), env=cluster.env, cwd=workdir,
                          capture_output=True, text=True, timeout=timeout)
    return proc, proc.stdout + proc.stderr


def run_id(log: str) -> str:
    match = re.search(r"SLURM run ID: (\S+)", log)
    assert match, f"no SLURM run ID in Snakemake's output:\n{log}"
    return match.group(1)


def submitted(log: str) -> dict[str, str]:
    """Snakemake job id -> SLURM job id, from "Job 3 has been submitted with SLURM jobid 6"."""
    return dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))


# --------------------------------------------------------------------------- the cluster


def test_cluster_is_up_and_start_is_idempotent(slurm_cluster):
    assert slurm_cluster.node_state() in ("idle", "mixed", "allocated")
    again = sc.start(slurm_cluster.root)
    assert again.reused and again.pids == sc.status(slurm_cluster.root).pids
    config = slurm_cluster.run("scontrol", "show", "config").stdout
    for setting in ("jobacct_gather/linux", "OverMemoryKill", "jobcomp/filetxt", "proctrack/linuxproc"):
        assert setting in config
    # the copy srun finds inside jobs, where the jobstep executor has removed SLURM_CONF
    assert sc.SYSTEM_CONF.resolve() == slurm_cluster.conf


def test_sbatch_runs_a_script(slurm_cluster, tmp_path):
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/sh\necho \"hello from job $SLURM_JOB_ID on $(hostname -s)\"\n")
    out = tmp_path / "hello.out"
    proc = slurm_cluster.run("sbatch", "--parsable", "--mem=50", "-t", "1",
                             "-o", str(out), str(script), cwd=tmp_path)
    job_id = proc.stdout.strip().split(";")[0]
    deadline = time.monotonic() + 60  # (`sbatch --wait` polls with growing pauses; this is faster)
    while job_id not in slurm_cluster.jobcomp() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert out.read_text().strip() == f"hello from job {job_id} on {slurm_cluster.host}"
    record = slurm_cluster.jobcomp()[job_id]
    assert record["JobState"] == "COMPLETED" and record["ExitCode"] == "0:0"


# --------------------------------------------------------------------------- the plugin


def test_snakemake_slurm_executor_runs_each_rule_as_its_own_job(slurm_cluster, tmp_path):
    proc, log = run_snakemake(slurm_cluster, tmp_path, "--slurm-keep-successful-logs")
    assert proc.returncode == 0, log

    # the workflow's result: split -> count (one per sample) -> merge
    merged = (tmp_path / "merged.txt").read_text().splitlines()
    ids = dict(line.rsplit(" slurm_job=", 1) for line in merged)
    assert set(ids) == {"a", "b", "count a", "count b", "merge"}
    assert ids["a"] == ids["b"], "one split job wrote both parts"
    job_ids = {ids["a"], ids["count a"], ids["count b"], ids["merge"]}
    assert len(job_ids) == 4, f"each of the 4 jobs ran in its own SLURM job: {ids}"
    assert all(i.isdigit() for i in job_ids)
    assert set(submitted(log).values()) == job_ids

    # SLURM's own records: each job completed, under the run's job name, with the rule
    # (and wildcards) in its comment
    records = slurm_cluster.jobcomp()
    name = run_id(log)
    for job_id in job_ids:
        assert records[job_id]["JobState"] == "COMPLETED", records[job_id]
        assert records[job_id]["Name"] == name
    comments = {j["id"]: j["comment"] for j in slurm_cluster.squeue("--states=all", f"--name={name}")}
    assert comments == {
        ids["a"]: "rule_split",
        ids["count a"]: "rule_count_wildcards_a",
        ids["count b"]: "rule_count_wildcards_b",
        ids["merge"]: "rule_merge",
    }
    assert (tmp_path / ".snakemake" / "slurm_logs" / "rule_merge" / f"{ids['merge']}.log").exists()


def test_memory_overrun_is_killed_and_reported(slurm_cluster, tmp_path):
    # rule hog requests mem_mb=300 and allocates 1 GiB, then sleeps 20 s
    proc, log = run_snakemake(slurm_cluster, tmp_path, "hog.txt")
    assert proc.returncode != 0, log
    (job_id,) = submitted(log).values()

    # what Snakemake reports (squeue gives the state, not the reason) ...
    assert "Error in rule hog:" in log
    assert f"SLURM-job '{job_id}' failed, SLURM status is: 'FAILED'" in log
    slurm_log = tmp_path / ".snakemake" / "slurm_logs" / "rule_hog" / f"{job_id}.log"
    assert str(slurm_log) in log
    # ... and the reason, in the job's SLURM log: slurmd's RSS sampling killed the step
    text = slurm_log.read_text()
    assert re.search(rf"StepId={job_id}\.0 exceeded memory limit \(\d+ > 314572800\), being killed", text), text
    assert "Exceeded job memory limit" in text
    record = slurm_cluster.jobcomp()[job_id]
    assert record["JobState"] == "FAILED"
    assert not (tmp_path / "hog.txt").exists()
    # killed by slurmd, not ended by the rule itself (its 20 s sleep never finished: no output)
    assert re.search(r"srun: error: \S+: task 0: Killed", text), text


def test_sigint_cancels_the_slurm_jobs(slurm_cluster, tmp_path):
    """SIGINT makes Snakemake scancel its jobs; the plugin can miss a job it holds while polling
    (its active jobs are outside its list then), so localgene's safety net follows, as after every
    run that did not succeed: whatever squeue still shows under the run's name is scancel-ed until
    squeue shows nothing of it. The test waits on that guarantee, not on a delay (load 8 on 2 cores
    made a fixed 20 s bound fail)."""
    from localgene.run.events import RunEvents
    from localgene.run.execution import Execution
    from localgene.run.snakemake_text import events_from_text

    # rule nap records its pid, then sleeps 600 s in a SLURM job
    proc = subprocess.Popen(snakemake_cmd(slurm_cluster, tmp_path, "nap.txt"), env=slurm_cluster.env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        pidfile = tmp_path / "nap.pid"
        deadline = time.monotonic() + 600
        while not pidfile.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pidfile.exists(), "the nap job never started"
        nap_pid = int(pidfile.read_text().split()[0])
        running = [j for j in slurm_cluster.squeue() if j["comment"] == "rule_nap"]
        assert [j["state"] for j in running] == ["RUNNING"]
        job_id, name = running[0]["id"], running[0]["name"]  # the job name is the run's id

        proc.send_signal(signal.SIGINT)
        # Snakemake exits after its current status-check pause (up to 180 s in the plugin)
        log, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "Terminating processes on user request" in log, log
    assert job_id in submitted(log).values()
    # this Snakemake ran without localgene's logger plugin: its run ID is read from its text
    events = RunEvents().extend(events_from_text(log))
    assert events.run_ids == [name]
    Execution(executor="slurm").stop_leftovers(events)  # returns once squeue shows nothing of the run
    assert slurm_cluster.squeue(f"--name={name}") == [], "jobs left in squeue after SIGINT"
    states = {j["id"]: j["state"] for j in slurm_cluster.squeue("--states=all")}
    assert states[job_id] == "CANCELLED"
    deadline = time.monotonic() + 120
    while _alive(nap_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(nap_pid), "the rule's process survived the cancel"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
