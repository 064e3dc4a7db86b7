"""A SLURM job's script (``python -m localgene.run.slurm_job_script <Snakemake's arguments>``, in
place of ``python -m snakemake``: :func:`localgene.run.slurm_job.job_script_starts_its_server`).

It starts the job's CNVkit step server first (:func:`localgene.run.slurm_job.start_job_server`),
then runs Snakemake with the same arguments in this same process: the server imports CNVkit
while Snakemake imports itself and reads the workflow, and the workflow's rules adopt that server
(``start_step_server`` in ``rules/common.smk``) instead of starting one once they are read. The
server is this process's child, as before: it stops when Snakemake exits and gets SIGTERM from
the kernel if this process dies.
"""

from __future__ import annotations

import sys

from localgene.run import slurm_job


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    slurm_job.start_job_server(argv)
    from snakemake.cli import main as snakemake

    snakemake(argv)


if __name__ == "__main__":
    main()
