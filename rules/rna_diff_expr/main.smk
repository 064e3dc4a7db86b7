# RNA_DIFF_EXPR: paired-end FASTQ per sample, in groups -> (cutadapt) -> HISAT2 -> samtools
# sort/index -> featureCounts -> DESeq2 (every other group against the first), with a
# strandedness check, optional QC (is_export_qc + bed), MA/volcano plots, results/job.json,
# results/report.html and delivery to `output`. The config is the service's body with local
# absolute paths (checked by config/rna_diff_expr.schema.yaml). One Snakemake job per step, each
# with its own log under logs/rna/, whose first line is the exact command; every step is a `run:`
# block calling localgene.pipelines.rna.steps, in a thread of Snakemake's own process (profiles/default:
# force-use-threads), so no Python process starts per step. Decisions: docs/rna.md.

import re

from localgene.pipelines.rna import index as rna_index
from localgene.pipelines.rna import plan as rna_plan
from localgene.pipelines.rna import steps as rna_steps
from localgene.run import execution as lg_execution
from localgene.cnvkit import plan as lg_plan
from localgene import report as lg_report

RNA = rna_plan.build_plan(config)
# In a cluster job a step shares its memory limit with Snakemake itself (localgene.run.execution).
CLUSTER_MB = lg_execution.CLUSTER_JOB_SNAKEMAKE_MB if workflow.non_local_exec else 0
if workflow.is_main_process:
    rna_plan.check_local_files(RNA)

# Results are delivered to output/<RUN_ID>/ (or beside a CSV output).
RUN_ID = RNA.instance_id or lg_plan.run_id_for(Path.cwd())
SAMPLES = RNA.sample_names
CONTRASTS = RNA.contrasts
CHECK_STRANDS = rna_plan.check_strand_settings(RNA.library_type)
DECLARED_STRAND = RNA.strandedness.featurecounts
REF_MB = Path(RNA.ref).stat().st_size / 1e6 if Path(RNA.ref).is_file() else 0.0

wildcard_constraints:
    sample="|".join(map(re.escape, SAMPLES)),
    contrast="|".join(map(re.escape, CONTRASTS)),
    strand="[012]",

# Layout of a job folder (the working directory); results/ is what gets delivered.
TRIMMED_R1 = "work/trimmed/{sample}_R1.fastq.gz"
TRIMMED_R2 = "work/trimmed/{sample}_R2.fastq.gz"
CUTADAPT_REPORT = "results/qc/cutadapt/{sample}.json"
INDEX_DIR = "inputs/index/hisat2"
INDEX_RECORD = f"{INDEX_DIR}/{rna_index.RECORD}"
BAM = "work/bam/{sample}.bam"
BAI = "work/bam/{sample}.bam.bai"
HISAT2_SUMMARY = "results/qc/hisat2/{sample}.txt"
FEATURECOUNTS = "results/counts/featurecounts.txt"
FEATURECOUNTS_SUMMARY = "results/counts/featurecounts.txt.summary"
COUNTS = "results/counts/counts.tsv"
STRAND_COUNTS_SUMMARY = "work/strandedness/s{strand}.txt.summary"
STRANDEDNESS_TSV = "results/qc/strandedness.tsv"
STRANDEDNESS_JSON = "work/strandedness/check.json"
COLDATA = "work/de/coldata.tsv"
DE_CSV = "results/de/{contrast}.csv"
NORMALIZED = "results/de/normalized_counts.tsv"
SIZE_FACTORS = "results/de/size_factors.tsv"
MA_PNG = "results/plots/{contrast}-ma.png"
VOLCANO_PNG = "results/plots/{contrast}-volcano.png"
RRNA_SAF = "work/qc/rrna.saf"
RRNA_SUMMARY = "work/qc/rrna.txt.summary"
QC_TSV = "results/qc/qc.tsv"
QC_PNG = "results/qc/qc.png"
SUMMARY = "results/job.json"
REPORT = lg_report.REPORT_PATH
DELIVERED = "logs/delivered.json"

DESEQ2_SCRIPT = str(Path(workflow.basedir) / "rules" / "rna_diff_expr" / "scripts" / "deseq2.R")


def rna_step(rule, input, output, params, threads, wildcards, log):
    """A rule's `run:` block: the step of that name in localgene.pipelines.rna.steps, logging to log[0]."""
    rna_steps.run(rule, input, output, params, threads, wildcards, log[0], config)


def reads(wc):
    """The reads HISAT2 aligns: trimmed when the body gives an adapter."""
    if RNA.adapt:
        return {"r1": TRIMMED_R1.format(sample=wc.sample), "r2": TRIMMED_R2.format(sample=wc.sample)}
    sample = RNA.sample(wc.sample)
    return {"r1": sample.r1, "r2": sample.r2}


def strand_summary(strand):
    """The featureCounts summary of one -s setting: the main count's for the declared one."""
    return FEATURECOUNTS_SUMMARY if strand == DECLARED_STRAND else STRAND_COUNTS_SUMMARY.format(strand=strand)


include: "trim.smk"
include: "index.smk"
include: "align.smk"
include: "count.smk"
include: "de.smk"
include: "qc.smk"
include: "deliver.smk"
include: "report.smk"

