"""localgene.run.slurm_job without a cluster: which Snakemake of a SLURM job is the job script's,
its steps side by side (each srun asking for its step's mem_mb), and the job's CNVkit step server
(its own socket and log, used by the steps, gone when the Snakemake that started it dies).
(The same on the test cluster: tests/hpc/test_slurm_jobs.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import snakemake_executor_plugin_slurm as slurm_plugin
from snakemake.resources import Resource, Resources

from localgene.cnvkit.step import ENV_SERVER, ENV_SERVER_PREFIX, ENV_WARM, run_cnvkit
from localgene.run import slurm_job, timeline

REPO = Path(__file__).resolve().parents[2]


def workflow(*, remote=True, conda=False, cores=2):
    """What slurm_job reads of Snakemake's workflow object."""
    return SimpleNamespace(
        remote_exec=remote,
        deployment_settings=SimpleNamespace(deployment_method=frozenset({"conda"} if conda else ())),
        global_resources=Resources({"_cores": Resource("_cores", cores)}))


def test_only_the_job_scripts_snakemake_of_a_slurm_job_counts():
    in_job = {"SLURM_JOB_ID": "52"}
    assert slurm_job.is_job_script(workflow(), in_job)
    assert not slurm_job.is_job_script(workflow(), {})                                     # not in a SLURM job
    assert not slurm_job.is_job_script(workflow(), {**in_job, "SLURM_STEP_ID": "0"})       # a task of srun
    assert not slurm_job.is_job_script(workflow(remote=False), in_job)                     # the main process


@pytest.fixture(autouse=True)
def plugin_restored(monkeypatch):
    """The SLURM plugin's methods as they were, after each test."""
    monkeypatch.setattr(slurm_plugin.Executor, "additional_general_args",
                        slurm_plugin.Executor.additional_general_args)
    # the property is inherited: restore by deleting what the test sets on the plugin's class
    had = {name: name in vars(slurm_plugin.Executor) for name in ("next_seconds_between_status_checks",
                                                                   "format_job_exec")}
    monkeypatch.setattr(slurm_job, "_STARTED", [])
    yield
    for name, was_there in had.items():
        if not was_there and name in vars(slurm_plugin.Executor):
            delattr(slurm_plugin.Executor, name)


def plugin_executor(pass_command_as_script=False):
    return SimpleNamespace(workflow=SimpleNamespace(executor_settings=SimpleNamespace(
        pass_command_as_script=pass_command_as_script)))


def test_the_job_script_runs_its_steps_itself_in_threads_instead_of_one_srun_snakemake_each():
    me = plugin_executor()
    assert slurm_plugin.Executor.additional_general_args(me) == "--executor slurm-jobstep --jobs 1"
    assert slurm_job.job_script_runs_the_steps()
    assert slurm_plugin.Executor.additional_general_args(me) == "--force-use-threads"
    assert slurm_job.job_script_runs_the_steps()          # twice: still the same arguments
    assert slurm_plugin.Executor.additional_general_args(me) == "--force-use-threads"
    # any other jobstep arguments (the plugin's script mode): the plugin's own way
    script_mode = plugin_executor(pass_command_as_script=True)
    assert slurm_plugin.Executor.additional_general_args(script_mode).startswith("--executor slurm-jobstep")


def test_the_plugins_pause_between_status_polls_is_at_most_seconds_between_status_checks():
    def executor(longest):
        me = object.__new__(slurm_plugin.Executor)
        me.workflow = SimpleNamespace(remote_execution_settings=SimpleNamespace(seconds_between_status_checks=longest))
        me._next_seconds_between_status_checks = None
        return me

    plain = executor(10)
    plain.next_seconds_between_status_checks = 41        # the plugin's back-off: 1, 11, 21, 31, 41 ...
    assert plain.next_seconds_between_status_checks == 41
    assert slurm_job.polls_at_most_every()
    assert slurm_job.polls_at_most_every()                # twice: still one cap
    for longest, pause, expected in ((10, 41, 10), (10, 1, 1), (1, 11, 1), (None, 41, 41), (0, 41, 41)):
        me = executor(longest)
        me.next_seconds_between_status_checks = pause
        assert me.next_seconds_between_status_checks == expected, (longest, pause)


class _Submitter:
    """What the patched format_job_exec reads of the plugin's executor."""

    def get_python_executable(self):
        return sys.executable


def test_each_job_script_starts_the_jobs_server_first_then_its_snakemake():
    command = {"now": f"cd /j && {sys.executable} -m snakemake --snakefile /w/Snakefile --mode remote"}
    # the plugin's own (inherited) method, stood in for; plugin_restored removes both after the test
    slurm_plugin.Executor.format_job_exec = lambda self, job: command["now"]
    assert slurm_job.job_script_starts_its_server()
    assert slurm_job.job_script_starts_its_server()      # twice: wrapped once
    script = slurm_plugin.Executor.format_job_exec(_Submitter(), job=None)
    assert script == f"cd /j && {sys.executable} -m localgene.run.slurm_job_script --snakefile /w/Snakefile --mode remote"
    # a command of another form (another Python, no `-m snakemake`) is the plugin's own
    command["now"] = "/other/python -m snakemake --mode remote"
    assert slurm_plugin.Executor.format_job_exec(_Submitter(), job=None) == command["now"]


def test_the_server_the_job_script_started_is_the_one_its_steps_use(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (ENV_WARM, ENV_SERVER, ENV_SERVER_PREFIX)}
    env["SLURM_JOB_ID"] = "54"
    server = slurm_job.start_job_server(["--snakefile", "S", "--mode", "remote", "--directory", str(tmp_path)], env)
    assert server is not None, (tmp_path / slurm_job.log_path("54")).read_text()
    try:
        assert env[ENV_SERVER] == str(tmp_path / ".snakemake/localgene/server/slurm-54.sock")
        # the workflow's rules, read later by that Snakemake, adopt it instead of starting another
        assert slurm_job.start_step_server(workflow(), tmp_path, env) is server
        log = (tmp_path / slurm_job.log_path("54")).read_text()
        assert "started by SLURM job 54's script, before its Snakemake" in log
        assert log.count("listening on") == 1
    finally:
        server.stop()
    # a workflow with conda environments: that server is stopped, the steps run as processes
    slurm_job._STARTED[:] = []
    server = slurm_job.start_job_server(["--mode", "remote", "--directory", str(tmp_path)], dict(env))
    assert server is not None
    assert slurm_job.start_step_server(workflow(conda=True), tmp_path, dict(env)) is None
    assert server.proc.poll() is not None


def test_no_early_server_outside_a_job_script_or_where_steps_cannot_use_one(tmp_path):
    plain = ["--mode", "remote", "--directory", str(tmp_path)]
    for argv, env in ((plain, {}),                                           # not in a SLURM job
                      (plain, {"SLURM_JOB_ID": "55", "SLURM_STEP_ID": "0"}),  # a task of srun
                      (["--directory", str(tmp_path)], {"SLURM_JOB_ID": "55"}),  # not Snakemake's remote mode
                      ([*plain, "--use-conda"], {"SLURM_JOB_ID": "55"}),
                      (plain, {"SLURM_JOB_ID": "55", ENV_WARM: "0"})):
        slurm_job._STARTED[:] = []
        assert slurm_job.start_job_server(argv, dict(env)) is None, (argv, env)
        assert slurm_job.start_step_server(workflow(), tmp_path, dict(env)) is None
    assert not (tmp_path / ".snakemake").exists()


def test_a_slurm_plugin_this_was_not_measured_with_is_left_alone(monkeypatch):
    monkeypatch.setattr(slurm_job, "PLUGIN_TESTED", ("99.",))
    assert not slurm_job.job_script_runs_the_steps()
    assert not slurm_job.job_script_starts_its_server()
    assert slurm_plugin.Executor.additional_general_args(plugin_executor()) == "--executor slurm-jobstep --jobs 1"
    assert not slurm_job.polls_at_most_every()


def test_the_job_script_has_the_jobs_cpus_as_cores():
    wf = workflow(cores=64)                               # --cores all: every CPU of the node
    assert slurm_job.use_the_jobs_cpus(wf, {"SLURM_JOB_ID": "52", "SLURM_CPUS_ON_NODE": "2"}) == 2
    assert wf.global_resources["_cores"].value == 2
    fewer = workflow(cores=1)
    assert slurm_job.use_the_jobs_cpus(fewer, {"SLURM_JOB_ID": "52", "SLURM_CPUS_ON_NODE": "2"}) == 1
    assert fewer.global_resources["_cores"].value == 1
    for env in ({"SLURM_CPUS_ON_NODE": "2"}, {"SLURM_JOB_ID": "52", "SLURM_STEP_ID": "0", "SLURM_CPUS_ON_NODE": "2"},
                {"SLURM_JOB_ID": "52"}):
        other = workflow(cores=64)
        assert slurm_job.use_the_jobs_cpus(other, env) is None
        assert other.global_resources["_cores"].value == 64


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
    assert slurm_job.start_step_server(workflow(), tmp_path, {**env, "SLURM_STEP_ID": "0"}) is None
    assert ENV_SERVER not in env
    assert not (tmp_path / ".snakemake").exists()


def test_the_server_ends_when_the_snakemake_that_started_it_dies(tmp_path):
    """Killed (no exit handlers run): the server gets SIGTERM from the kernel and stops."""
    script = textwrap.dedent(f"""
        import os, sys
        from types import SimpleNamespace
        sys.path.insert(0, {str(REPO)!r})
        from localgene.run import slurm_job, timeline
        wf = SimpleNamespace(remote_exec=True, deployment_settings=SimpleNamespace(deployment_method=frozenset()))
        env = {{k: v for k, v in os.environ.items() if k not in ("LOCALGENE_WARM", "SLURM_STEP_ID")}}
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
