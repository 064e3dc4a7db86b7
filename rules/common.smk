# Shared by every rule file: the checked job plan, the folder layout, and how a step runs.

import re

from localgene.cnvkit import step as lg_cnvkit_step
from localgene.jobs import checks as lg_job_checks
from localgene.cnvkit import options as lg_options
from localgene.cnvkit import options_snapshot as lg_options_snapshot
from localgene.cnvkit import plan as lg_plan
from localgene import settings as lg_settings
from localgene.cnvkit import workflow_steps as lg_workflow_steps
from localgene.run import slurm_job as lg_slurm_job

# On SLURM, each SLURM job's script starts the job's CNVkit step server before its Snakemake and
# runs the job's steps itself, in threads on the job's CPUs (no srun and no Snakemake per step),
# and the plugin polls at most every seconds-between-status-checks (localgene.run.slurm_job,
# docs/hpc.md).
if workflow.is_main_process:
    lg_slurm_job.job_script_runs_the_steps()
    lg_slurm_job.job_script_starts_its_server()
    lg_slurm_job.polls_at_most_every()
lg_slurm_job.use_the_jobs_cpus(workflow)

# What was found when the option strings were checked, by `localgene run` at submit or by the
# first Snakemake process of the run: later processes (this one when localgene started it, the
# Snakemake processes of cluster jobs) read it instead of importing CNVkit again
# (localgene.cnvkit.options, "snapshot"; keyed on the option strings and the CNVkit version).
OPTIONS_SNAPSHOT = lg_options_snapshot.SNAPSHOT_PATH
# The checks of a run are localgene.jobs.checks' stages "workflow" (this main process: once per
# run, not again in every job a cluster executor starts) and "step" (the others: the plan only).
_CHECKED = lg_job_checks.check_job(config, lg_settings.load(), cores=workflow.cores, snapshot=OPTIONS_SNAPSHOT,
                                   stage="workflow" if workflow.is_main_process else "step", kind="cnvkit")
PLAN = _CHECKED.plan
if workflow.is_main_process:
    try:
        lg_options_snapshot.save_snapshot(PLAN.options, config, OPTIONS_SNAPSHOT)
    except OSError:
        pass  # cluster jobs then check the options themselves

# In the Snakemake a SLURM job's script starts: one CNVkit step server for the job's CNVkit steps
# (localgene.run.slurm_job; nothing elsewhere).
LG_SLURM_STEP_SERVER = lg_slurm_job.start_step_server(workflow)

# Results are delivered to output_dir/<RUN_ID>/.
RUN_ID = PLAN.instance_id or lg_plan.run_id_for(Path.cwd())

EXPERIMENTAL = list(PLAN.experimental)
CONTROLS = list(PLAN.controls)
SAMPLES = CONTROLS + EXPERIMENTAL

wildcard_constraints:
    sample="|".join(map(re.escape, SAMPLES)) if SAMPLES else "NONE",
    kind="target|antitarget",

# Layout of a job folder (the working directory).
FASTA = "inputs/reference.fa"
FAI = "inputs/reference.fa.fai"
BAM = "inputs/bam/{sample}.bam"
BAI = "inputs/bam/{sample}.bam.bai"
ANNOTATION = "inputs/annotation.txt"
CHECKED = "inputs/checked.json"
ACCESS = "results/regions/access.bed"
TARGETS = "results/regions/targets.target.bed"
ANTITARGETS = "results/regions/targets.antitarget.bed"
COVERAGE = "results/coverage/{sample}.{kind}coverage.cnn"
REFERENCE = "results/reference.cnn"
CNR = "results/samples/{sample}.cnr"
CNS = "results/samples/{sample}.cns"
CALL = "results/samples/{sample}.call.cns"
GENEMETRICS = "results/samples/{sample}.genemetrics.tsv"
SEX = "results/sex.tsv"
SCATTER = "results/plots/{sample}-scatter.png"
DIAGRAM_PDF = "results/plots/{sample}-diagram.pdf"
DIAGRAM = "results/plots/{sample}-diagram.png"
SUMMARY = "results/job.json"
DELIVERED = "logs/delivered.json"

CNVKIT_SCRIPT = "scripts/run_cnvkit.py"  # the same step as cnvkit_step() below, for script: rules
CNVKIT_ENV = "../envs/cnvkit.yaml"

localrules:
    reference_fasta,
    sample_bam,
    check_inputs,
    annotation,
    summary,
    report,
    deliver,


def step_threads(step):
    return PLAN.threads(step, workflow.cores)


class StepFailed(Exception):
    """A CNVkit step ended with a non-zero exit code (its reason is in the step's log)."""


def cnvkit_step(rule, argv, log, wildcards, conda_env):
    """A rule's `run:` block: `cnvkit.py <argv>` through the job's CNVkit step server, or as its
    own process (with --use-conda: the environment's cnvkit.py); see localgene.cnvkit.step."""
    code = lg_cnvkit_step.run_cnvkit(argv, log, step=rule, wildcards=dict(wildcards.items()),
                                     conda_prefix=conda_env)
    if code != 0:
        raise StepFailed(f"cnvkit.py {argv[0]} exited with code {code}; see {log}")


def localgene_step(rule, params, input, output, log, wildcards):
    """A rule's `run:` block for localgene's own steps (localgene.cnvkit.workflow_steps)."""
    lg_workflow_steps.run_step(rule, params=params, input=input, output=output, log=log, wildcards=wildcards)
