"""Inside a SLURM job of a run: the job's CNVkit step server.

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

docs/hpc.md ("Inside a SLURM job") describes what this changes for a job's time and memory.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from pathlib import Path

from localgene.cnvkit import server_process

#: SLURM sets it in every job's environment.
ENV_JOB_ID = "SLURM_JOB_ID"


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
