"""Where a job's steps run, one module per executor: :mod:`.local` (this machine) and
:mod:`.slurm` (snakemake-executor-plugin-slurm). localgene.execution resolves the setting and
hands Snakemake its arguments; the per-executor knowledge (cleanup after a run, the SLURM side
of failure messages) lives here.
"""
