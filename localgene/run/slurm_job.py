"""Inside a SLURM job of a run: who runs the job's steps, on how many cores, and the job's CNVkit
step server.

The SLURM plugin starts each SLURM job's script as a Snakemake of its own (``--mode remote``).
Left to itself, that Snakemake runs with the jobstep plugin and ``--jobs 1``: every step of a
group job under ``srun`` in yet another Snakemake, one step after the other (the jobstep plugin
waits for each ``srun``; a step's ``srun`` asking for no memory gets all of the job's, which holds
any other step back: snakemake-executor-plugin-slurm issue 469). Measured on the demo, that second
Snakemake costs 2.5 s of CPU per step (its import alone), more than most CNVkit steps.

* :func:`job_script_runs_the_steps` (main process): the job script's Snakemake runs the job's
  steps itself, as ``localgene run`` does on a workstation: Snakemake's local executor with
  threads (``--force-use-threads``), side by side on the job's CPUs, no ``srun``, no Snakemake per
  step. Done only with the SLURM plugin versions this was measured with (:data:`PLUGIN_TESTED`);
  with others the plugin's own way stays.
* :func:`polls_at_most_every` (main process): the plugin lengthens its pause between status
  polls by 10 s after every poll that sees no job end (up to 180 s), whatever
  ``seconds-between-status-checks`` says; so the end of a 40 s job was seen ~25 s late. Here
  ``seconds-between-status-checks`` is the longest pause (the plugin's back-off up to it).
* :func:`use_the_jobs_cpus` (job script): Snakemake's ``--cores all`` there would count every CPU
  of the node; the job's own (``SLURM_CPUS_ON_NODE``) are its cores.
* :func:`job_script_starts_its_server` (main process): each job's script is
  ``python -m localgene.run.slurm_job_script`` in place of ``python -m snakemake``: it starts the
  job's CNVkit step server (:func:`start_job_server`) and then runs that Snakemake in its own
  process, so CNVkit is imported while Snakemake starts and reads the workflow (~3 s on the demo)
  rather than after.
* :func:`start_step_server` (job script): one CNVkit step server for the SLURM job (CNVkit imported
  once per job instead of once per step; the one the job script started, where it did). Its socket and log are named after the SLURM job id
  (several group jobs of a run may run at once in one job folder), its address goes into the
  environment of the steps, and it stops when that Snakemake ends (at its exit, or by SIGTERM
  from the kernel when it dies: it never outlives the SLURM job). Where no server can be used
  (``LOCALGENE_WARM=0``, conda environments, the server did not come up) steps run as their own
  ``cnvkit.py`` processes.

docs/hpc.md ("Inside a SLURM job") says what this changes for a job's time, memory and failures.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path

from localgene.cnvkit import server_process

#: SLURM sets it in every job's environment.
ENV_JOB_ID = "SLURM_JOB_ID"
#: SLURM sets it for the tasks ``srun`` starts (not in the job script).
ENV_STEP_ID = "SLURM_STEP_ID"
#: SLURM sets it in a job's environment: the CPUs the job has on its node.
ENV_CPUS = "SLURM_CPUS_ON_NODE"
#: snakemake-executor-plugin-slurm versions whose job-script arguments
#: :func:`job_script_runs_the_steps` replaces (it returns exactly ``JOBSTEP_ARGS``).
PLUGIN_TESTED = ("2.8.",)
JOBSTEP_ARGS = "--executor slurm-jobstep --jobs 1"
#: What the job script's Snakemake gets instead: Snakemake's local executor, steps in threads.
LOCAL_ARGS = "--force-use-threads"
#: What the job script runs in place of ``python -m snakemake`` (:func:`job_script_starts_its_server`).
JOB_SCRIPT_MODULE = "localgene.run.slurm_job_script"

#: In the job script's process: the server :func:`start_job_server` started (or None where it did
#: not start one), once it has been called; :func:`start_step_server` then adopts it.
_STARTED: list[server_process.ServerProcess | None] = []


def is_job_script(workflow, env: Mapping[str, str] | None = None) -> bool:
    """Whether this Snakemake is the one a SLURM job's script started (remote mode inside a SLURM
    job, not a task of ``srun``), not the main process nor a step's Snakemake under ``srun``."""
    env = os.environ if env is None else env
    return bool(env.get(ENV_JOB_ID)) and not env.get(ENV_STEP_ID) and bool(workflow.remote_exec)


def job_script_runs_the_steps() -> bool:
    """Make the SLURM plugin start each job's script as a Snakemake that runs the job's steps
    itself (local executor, threads); whether it does (False: unknown plugin, left alone)."""

    def wrap(own):
        def general_args(self):
            args = own(self)
            # anything else than the plain jobstep arguments (e.g. its script mode): the plugin's way
            return LOCAL_ARGS if args.strip() == JOBSTEP_ARGS else args
        return general_args

    return _wrap_method("additional_general_args", wrap)


def job_script_starts_its_server() -> bool:
    """Make the SLURM plugin's job scripts run :data:`JOB_SCRIPT_MODULE` (the job's CNVkit step
    server, then Snakemake in the same process) in place of ``python -m snakemake``; whether it
    does (False: unknown plugin, left alone; a command without ``<python> -m snakemake`` stays)."""

    def wrap(own):
        def format_job_exec(self, job):
            command = own(self, job)
            python = self.get_python_executable()
            return command.replace(f"{python} -m snakemake ", f"{python} -m {JOB_SCRIPT_MODULE} ", 1)
        return format_job_exec

    return _wrap_method("format_job_exec", wrap)


def _wrap_method(name: str, wrap) -> bool:
    """Replace method ``name`` of the SLURM plugin's executor by ``wrap(own method)``, once;
    whether it is replaced (False: an unknown plugin, or one without that method)."""
    executor = _plugin_executor()
    if executor is None or not hasattr(executor, name):
        return False
    own = getattr(executor, name)
    if getattr(own, "localgene_wrapped", False):
        return True
    wrapped = wrap(own)
    setattr(wrapped, "localgene_wrapped", True)  # noqa: B010
    setattr(executor, name, wrapped)
    return True


def _plugin_executor():
    """The SLURM plugin's executor class, if Snakemake loaded the plugin in this process and it is
    a version this was measured with.

    Snakemake imports its executor plugins at start-up, before the Snakefile, whenever a run may
    use one; a run that can only be local loads none (localgene.run.snakemake_main). So a plugin
    not imported by now is not this run's executor, and importing it here would only cost a
    local run ~0.9 s (pandas, and ``sinfo``/``sacct``/``scontrol`` asked about a cluster).
    """
    plugin = sys.modules.get("snakemake_executor_plugin_slurm")
    if plugin is None:
        return None
    from importlib.metadata import version

    try:
        found = version("snakemake-executor-plugin-slurm")
    except Exception:  # noqa: BLE001  (no metadata: an unknown build)
        return None
    return getattr(plugin, "Executor", None) if found.startswith(PLUGIN_TESTED) else None


def polls_at_most_every() -> bool:
    """Make the SLURM plugin's pause between status polls at most the workflow's
    ``seconds-between-status-checks``; whether it does (False: unknown plugin, left alone)."""
    executor = _plugin_executor()
    pause = getattr(executor, "next_seconds_between_status_checks", None) if executor else None
    if not isinstance(pause, property) or pause.fset is None:
        return False
    if getattr(pause.fset, "localgene_capped", False):
        return True
    own_set = pause.fset

    def capped(self, value):
        longest = getattr(getattr(self.workflow, "remote_execution_settings", None),
                          "seconds_between_status_checks", None)
        if isinstance(value, (int, float)) and isinstance(longest, (int, float)) and longest > 0:
            value = min(value, longest)
        own_set(self, value)

    setattr(capped, "localgene_capped", True)  # noqa: B010
    executor.next_seconds_between_status_checks = property(pause.fget, capped, pause.fdel, pause.__doc__)
    return True


def use_the_jobs_cpus(workflow, env: Mapping[str, str] | None = None) -> int | None:
    """In the job script's Snakemake: at most the job's CPUs as its cores; the cores (None
    elsewhere, or without ``SLURM_CPUS_ON_NODE``)."""
    env = os.environ if env is None else env
    if not is_job_script(workflow, env):
        return None
    try:
        cpus = int(env.get(ENV_CPUS) or 0)
    except ValueError:
        return None
    if cpus < 1:
        return None
    try:
        cores = workflow.global_resources["_cores"].value
    except (KeyError, AttributeError, TypeError):
        cores = None
    if not isinstance(cores, int) or cores > cpus:
        workflow.global_resources["_cores"] = cpus
        cores = cpus
    return cores


def _uses_conda(workflow) -> bool:
    methods = getattr(workflow.deployment_settings, "deployment_method", ()) or ()
    return any(str(getattr(m, "value", m)).lower() == "conda" for m in methods)


def socket_path(job_id: str) -> str:
    """The server socket of SLURM job ``job_id``, relative to the job folder."""
    return os.path.join(".snakemake", "localgene", "server", f"slurm-{job_id}.sock")


def log_path(job_id: str) -> str:
    """The server log of SLURM job ``job_id``, relative to the job folder."""
    return os.path.join("logs", "cnvkit-server", f"slurm-{job_id}.log")


def start_step_server(workflow, job_dir: Path | str | None = None,
                      env: MutableMapping[str, str] | None = None) -> server_process.ServerProcess | None:
    """In the job script's Snakemake of a SLURM job: the job's CNVkit step server, with this
    process's environment (the steps') pointing at it; None elsewhere, or when steps run as their
    own processes. The server :func:`start_job_server` started before Snakemake, where it did;
    else one started now."""
    if env is None:
        env = os.environ
    if not is_job_script(workflow, env):
        return None
    if _STARTED:
        server = _STARTED[0]
        if server is not None and _uses_conda(workflow):
            server.stop()  # the steps run in conda environments: no server for them
            server = _STARTED[0] = None
        return server
    return _start(Path(job_dir or Path.cwd()), env, ["--use-conda"] if _uses_conda(workflow) else [])


def start_job_server(argv: Sequence[str], env: MutableMapping[str, str] | None = None,
                     job_dir: Path | str | None = None) -> server_process.ServerProcess | None:
    """In a SLURM job's script, before Snakemake starts (:data:`JOB_SCRIPT_MODULE`): the job's
    CNVkit step server, from Snakemake's arguments ``argv`` (none with ``--mode`` other than
    remote, in a task of ``srun``, with conda environments or ``LOCALGENE_WARM=0``)."""
    env = os.environ if env is None else env
    server = None
    if env.get(ENV_JOB_ID) and not env.get(ENV_STEP_ID) and _arg_value(argv, "--mode") == "remote":
        folder = Path(job_dir or _arg_value(argv, "--directory") or Path.cwd())
        job_log = folder / log_path(env[ENV_JOB_ID])
        job_log.parent.mkdir(parents=True, exist_ok=True)
        with open(job_log, "a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} localgene: started by SLURM job "
                      f"{env[ENV_JOB_ID]}'s script, before its Snakemake\n")
        server = _start(folder, env, argv)
    _STARTED[:] = [server]
    return server


def _start(job_dir: Path, env: MutableMapping[str, str], snakemake_args: Sequence[str]
           ) -> server_process.ServerProcess | None:
    job_id = env[ENV_JOB_ID]
    server_env = dict(env)
    server = server_process.start(job_dir, server_env, local=True, snakemake_args=snakemake_args,
                                  socket=socket_path(job_id), log=log_path(job_id), die_with_parent=True)
    if server is None:
        return None
    for key in (server_process.ENV_SERVER, server_process.ENV_SERVER_PREFIX):
        env[key] = server_env[key]
    atexit.register(server.stop)
    return server


def _arg_value(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in an argument list (``--flag V`` or ``--flag=V``), None without it."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None
