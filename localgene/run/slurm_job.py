"""Inside a SLURM job of a run: the job's steps side by side, and the job's CNVkit step server.

Each SLURM job the plugin submits runs Snakemake twice over: the job script's Snakemake (executor
``slurm-jobstep``, ``--mode remote``, ``--jobs 1``) runs the job's steps, one or a group of them,
each under ``srun`` in a Snakemake of its own. No job process of localgene is there to start the
CNVkit step server (localgene.cnvkit.server), so without one every CNVkit step of a group job
pays CNVkit's import (~2-3 s) again. :func:`start_step_server`, called by the workflow's rules
while the job script's Snakemake reads them, starts one server for the SLURM job: its socket and
log are named after the SLURM job id (several group jobs of a run may run at once in the same job
folder), its address goes into the environment that the step processes inherit through ``srun``,
and it stops when that Snakemake ends (at its exit, or by SIGTERM when it dies: the server never
outlives the SLURM job). Where no server can be used (``LOCALGENE_WARM=0``, conda environments,
the server did not come up) steps run as their own ``cnvkit.py`` processes, as before.

:func:`run_steps_side_by_side` lets the job script's Snakemake run as many steps at once as the
SLURM job has CPUs. Three things kept the steps of a group job one after the other
(snakemake-executor-plugin-slurm issue 469): the plugin starts that Snakemake with ``--jobs 1``;
the jobstep plugin's ``run_job`` waits for its step's ``srun`` to end before it returns, and
Snakemake hands it the steps one by one; and each step's ``srun`` asks for no memory, so SLURM
gives the first step all of the job's memory and holds every other step back ("step creation
temporarily disabled") until it ends. Here the node count is the job's CPUs, ``run_job`` waits
for its step in a thread of its own (reporting the step's end as before), and each step's
``srun`` asks for the step's own ``mem_mb`` (``--mem``): Snakemake sized the group job as the sum
of what its steps running at once need, so they fit side by side, and each is held to its own
memory. Done only with the jobstep plugin this was measured with (:data:`JOBSTEP_TESTED`).

docs/hpc.md ("Inside a SLURM job") describes what this changes for a job's time and memory.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from localgene.cnvkit import server_process

#: SLURM sets it in every job's environment.
ENV_JOB_ID = "SLURM_JOB_ID"
#: SLURM sets it in a job's environment: the CPUs the job has on its node.
ENV_CPUS = "SLURM_CPUS_ON_NODE"
#: The snakemake-executor-plugin-slurm-jobstep versions whose srun call
#: :func:`run_steps_side_by_side` extends (it builds the call from ``get_node_setting``).
JOBSTEP_TESTED = ("0.6.",)


def is_job_script(workflow, env: Mapping[str, str] | None = None) -> bool:
    """Whether this Snakemake is the one a SLURM job's script started (it runs the job's steps
    through ``srun``), not the main process nor the Snakemake of one step under ``srun``.

    The job script's Snakemake runs in remote mode with a node count (the plugin passes
    ``--jobs 1``); a step's Snakemake under ``srun`` runs in remote mode with cores only.
    """
    env = os.environ if env is None else env
    return bool(env.get(ENV_JOB_ID)) and workflow.remote_exec and workflow.resource_settings.nodes is not None


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
                      env: dict[str, str] | None = None) -> server_process.ServerProcess | None:
    """In the job script's Snakemake of a SLURM job: start the job's CNVkit step server and point
    this process's environment (which ``srun`` passes on to the steps) at it; None elsewhere, or
    when steps run as their own processes."""
    env = os.environ if env is None else env
    if not is_job_script(workflow, env):
        return None
    job_id = env[ENV_JOB_ID]
    server_env = dict(env)
    args = ["--use-conda"] if _uses_conda(workflow) else []
    server = server_process.start(Path(job_dir or Path.cwd()), server_env, local=True, snakemake_args=args,
                                  socket=socket_path(job_id), log=log_path(job_id), die_with_parent=True)
    if server is None:
        return None
    for key in (server_process.ENV_SERVER, server_process.ENV_SERVER_PREFIX):
        env[key] = server_env[key]
    atexit.register(server.stop)
    return server


def _step_memory(job) -> str:
    """``--mem=<mem_mb>`` for a step's ``srun`` ('' when the step has no whole mem_mb)."""
    mem = job.resources.get("mem_mb")
    return f" --mem={mem}" if isinstance(mem, int) and not isinstance(mem, bool) and mem > 0 else ""


def run_steps_side_by_side(workflow, env: Mapping[str, str] | None = None) -> int:
    """In the job script's Snakemake of a SLURM job with more than one CPU: run up to that many
    of the job's steps at once, each ``srun`` asking for its step's ``mem_mb``; how many (1:
    nothing changed, elsewhere or with a jobstep plugin this was not measured with)."""
    env = os.environ if env is None else env
    if not is_job_script(workflow, env):
        return 1
    try:
        cpus = int(env.get(ENV_CPUS) or 1)
    except ValueError:
        return 1
    if cpus < 2 or not _extend_srun_call():
        return 1
    workflow.global_resources["_nodes"] = cpus
    return cpus


def _extend_srun_call() -> bool:
    """Make the jobstep plugin's ``srun`` call ask for the step's memory; whether it does."""
    try:
        from importlib.metadata import version

        import snakemake_executor_plugin_slurm_jobstep as jobstep
    except ImportError:
        return False
    try:
        found = version("snakemake-executor-plugin-slurm-jobstep")
    except Exception:  # noqa: BLE001  (no metadata: an unknown build)
        return False
    node_setting = getattr(jobstep, "get_node_setting", None)
    executor = getattr(jobstep, "Executor", None)
    if not found.startswith(JOBSTEP_TESTED) or node_setting is None or executor is None:
        return False
    if getattr(node_setting, "localgene_step_memory", False):
        return True

    def with_memory(job):
        return node_setting(job) + _step_memory(job)

    run_job = executor.run_job

    def in_a_thread(self, job):
        def run() -> None:
            try:
                run_job(self, job)
            except Exception as exc:  # noqa: BLE001  (the step failed to start: report it as failed)
                from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo

                self.report_job_error(SubmittedJobInfo(job), msg=str(exc))

        threading.Thread(target=run, name=f"srun {job}", daemon=True).start()

    with_memory.localgene_step_memory = True
    jobstep.get_node_setting = with_memory
    executor.run_job = in_a_thread
    return True
