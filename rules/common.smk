# Shared by every rule file: the checked job plan, the folder layout, and how a step runs.

import re

from localgene import options as lg_options
from localgene import plan as lg_plan

# What the main process found when it checked the option strings; the Snakemake processes of
# cluster jobs read it instead of importing CNVkit again (localgene.options, "snapshot").
OPTIONS_SNAPSHOT = Path(".snakemake", "localgene", "options.json")
if workflow.is_main_process:
    PLAN = lg_plan.build_plan(config, cores=workflow.cores)
    try:
        lg_options.save_snapshot(PLAN.options, config, OPTIONS_SNAPSHOT)
    except OSError:
        pass  # cluster jobs then check the options themselves
    # Once per run, not again in every job a cluster executor starts.
    lg_plan.check_environment(PLAN)
    lg_plan.check_local_files(PLAN)
else:
    PLAN = lg_plan.build_plan(config, cores=workflow.cores,
                              options=lg_options.load_snapshot(config, OPTIONS_SNAPSHOT))

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

CNVKIT_SCRIPT = "scripts/run_cnvkit.py"
LOCALGENE_SCRIPT = "scripts/localgene_step.py"
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
