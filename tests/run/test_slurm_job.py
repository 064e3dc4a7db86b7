"""localgene.run.slurm_job without a cluster: which Snakemake of a SLURM job is the job script's,
its steps side by side (each srun asking for its step's mem_mb), and the job's CNVkit step server
(its own socket and log, used by the steps, gone when the Snakemake that started it dies).
(The same on the test cluster: tests/hpc/test_slurm_jobs.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import snakemake_executor_plugin_slurm_jobstep as jobstep

from localgene.cnvkit.step import ENV_SERVER, ENV_SERVER_PREFIX, ENV_WARM, run_cnvkit
from localgene.run import slurm_job, timeline

REPO = Path(__file__).resolve().parents[2]


def workflow(*, remote=True, nodes=1, conda=False):
    """What slurm_job reads of Snakemake's workflow object."""
    return SimpleNamespace(
        remote_exec=remote, resource_settings=SimpleNamespace(nodes=nodes),
        deployment_settings=SimpleNamespace(deployment_method=frozenset({"conda"} if conda else ())),
        global_resources={"_nodes": nodes})


def step_job(mem_mb):
    return SimpleNamespace(resources={"mem_mb": mem_mb})


def test_only_the_job_scripts_snakemake_of_a_slurm_job_counts():
    in_job = {"SLURM_JOB_ID": "52"}
    assert slurm_job.is_job_script(workflow(), in_job)
    assert not slurm_job.is_job_script(workflow(), {})                      # not in a SLURM job
    assert not slurm_job.is_job_script(workflow(nodes=None), in_job)        # a step's Snakemake under srun
    assert not slurm_job.is_job_script(workflow(remote=False), in_job)      # the main process


@pytest.fixture(autouse=True)
def plugin_restored(monkeypatch):
    """The jobstep plugin's functions as they were, after each test."""
    monkeypatch.setattr(jobstep, "get_node_setting", jobstep.get_node_setting)
    monkeypatch.setattr(jobstep.Executor, "run_job", jobstep.Executor.run_job)


def test_steps_of_a_job_with_two_cpus_run_side_by_side_each_srun_asking_for_its_mem_mb():
    wf = workflow()
    assert slurm_job.run_steps_side_by_side(wf, {"SLURM_JOB_ID": "52", "SLURM_CPUS_ON_NODE": "2"}) == 2
    assert wf.global_resources["_nodes"] == 2
    # the plugin's srun call is "srun -n1 --cpu-bind=q {cpus} {gpus} {nodes} <step>"
    assert jobstep.get_node_setting(step_job(2048)) == "--nodes=1 --mem=2048"
    assert jobstep.get_node_setting(step_job(None)) == "--nodes=1"        # no memory: SLURM's default
    assert jobstep.get_node_setting(SimpleNamespace(resources={"nodes": 1, "mem_mb": 50})) == "--nodes=1 --mem=50"
    # a second call does not add --mem twice
    assert slurm_job.run_steps_side_by_side(wf, {"SLURM_JOB_ID": "52", "SLURM_CPUS_ON_NODE": "2"}) == 2
    assert jobstep.get_node_setting(step_job(1024)) == "--nodes=1 --mem=1024"


def test_the_jobstep_plugin_waits_for_each_step_in_a_thread_of_its_own(monkeypatch):
    """Snakemake hands the steps to run_job one by one and run_job waits for its srun: now it
    returns at once, and the step's end (or a failure to start it) is reported from the thread."""
    release, ran = threading.Event(), []

    def plugin_run_job(self, job):  # the plugin's: blocks until the step's srun ends
        if job == "broken":
            raise RuntimeError("subprocess terminated before reading script")
        release.wait(60)
        ran.append(job)
        self.report_job_success(job)

    monkeypatch.setattr(jobstep.Executor, "run_job", plugin_run_job)
    assert slurm_job.run_steps_side_by_side(workflow(), {"SLURM_JOB_ID": "52", "SLURM_CPUS_ON_NODE": "2"}) == 2
    reported = {"ok": [], "error": []}
    done = threading.Event()
    me = SimpleNamespace(report_job_success=lambda job: (reported["ok"].append(job), done.set()),
                         report_job_error=lambda info, msg=None: reported["error"].append((info.job, msg)))
    jobstep.Executor.run_job(me, "fix")
    jobstep.Executor.run_job(me, "segment")
    assert ran == []          # both returned while their steps still run
    release.set()
    jobstep.Executor.run_job(me, "broken")
    deadline = time.monotonic() + 60
    while (len(reported["ok"]) < 2 or not reported["error"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(reported["ok"]) == ["fix", "segment"]
    assert reported["error"] == [("broken", "subprocess terminated before reading script")]


@pytest.mark.parametrize("env", [{"SLURM_JOB_ID": "52", "SLURM_CPUS_ON_NODE": "1"}, {"SLURM_CPUS_ON_NODE": "4"}])
def test_one_cpu_or_no_slurm_job_changes_nothing(env):
    wf = workflow(nodes=1)
    assert slurm_job.run_steps_side_by_side(wf, env) == 1
    assert wf.global_resources["_nodes"] == 1


def test_a_jobstep_plugin_this_was_not_measured_with_is_left_alone(monkeypatch):
    monkeypatch.setattr(slurm_job, "JOBSTEP_TESTED", ("99.",))
    wf = workflow()
    assert slurm_job.run_steps_side_by_side(wf, {"SLURM_JOB_ID": "7", "SLURM_CPUS_ON_NODE": "2"}) == 1
    assert wf.global_resources["_nodes"] == 1


def test_the_job_script_starts_a_step_server_of_its_own_that_the_steps_use(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in (ENV_WARM, ENV_SERVER, ENV_SERVER_PREFIX)}
    env["SLURM_JOB_ID"] = "52"
    server = slurm_job.start_step_server(workflow(), tmp_path, env)
    assert server is not None, (tmp_path / slurm_job.log_path("52")).read_text()
    try:
        # its socket and log are the SLURM job's (group jobs of one run share the job folder)
        assert env[ENV_SERVER] == str(tmp_path / ".snakemake/localgene/server/slurm-52.sock")
        assert Path(env[ENV_SERVER]).is_socket()
        assert env[ENV_SERVER_PREFIX] == sys.prefix
        # a step (here: in this process, as a step's Snakemake under srun would) runs through it
        code = run_cnvkit(["version"], tmp_path / "version.log", step="version", env=env)
        assert code == 0
        text = (tmp_path / "version.log").read_text()
        assert text.startswith("$ cnvkit.py version\n") and len(text.splitlines()) >= 2
        assert [r["runner"] for r in timeline.read()] == ["server"]
        assert "imported CNVkit" in _wait_for_text(tmp_path / slurm_job.log_path("52"), "imported CNVkit")
    finally:
        server.stop()
    assert server.proc.poll() is not None


def test_no_server_with_localgene_warm_0_conda_or_outside_a_job_script(tmp_path):
    base = {"SLURM_JOB_ID": "52", ENV_WARM: "0"}
    assert slurm_job.start_step_server(workflow(), tmp_path, dict(base)) is None
    assert slurm_job.start_step_server(workflow(conda=True), tmp_path, {"SLURM_JOB_ID": "52"}) is None
    env = {"SLURM_JOB_ID": "52"}
    assert slurm_job.start_step_server(workflow(nodes=None), tmp_path, env) is None
    assert ENV_SERVER not in env
    assert not (tmp_path / ".snakemake").exists()


def test_the_server_ends_when_the_snakemake_that_started_it_dies(tmp_path):
    """Killed (no exit handlers run): the server gets SIGTERM from the kernel and stops."""
    script = textwrap.dedent(f"""
        import os, sys
        from types import SimpleNamespace
        sys.path.insert(0, {str(REPO)!r})
        from localgene.run import slurm_job, timeline
        wf = SimpleNamespace(remote_exec=True, resource_settings=SimpleNamespace(nodes=1),
                             deployment_settings=SimpleNamespace(deployment_method=frozenset()))
        env = {{k: v for k, v in os.environ.items() if k != "LOCALGENE_WARM"}}
        env["SLURM_JOB_ID"] = "53"
        server = slurm_job.start_step_server(wf, {str(tmp_path)!r}, env)
        print(server.proc.pid, flush=True)
        os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 120
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), "the step server outlived the process that started it"
    assert "stopped" in (tmp_path / slurm_job.log_path("53")).read_text()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _wait_for_text(path: Path, text: str, bound: float = 120.0) -> str:
    deadline = time.monotonic() + bound
    while True:
        found = path.read_text() if path.exists() else ""
        if text in found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
