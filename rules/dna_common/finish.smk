# The QC of the result (bcftools stats, FILTER counts, samtools flagstat, a bar chart), the job
# summary (results/job.json: plan, warnings, tool versions, counts), the report
# (results/report.html, localgene.report.dna) and the delivery of each result to the path its
# body field names (local copy or S3 upload; the report beside the VCF as <name>.report.html).
# Included last by rules/dna_germline/main.smk and rules/dna_somatic/main.smk, which define
# RESULT_OUTPUTS (the files of results/) and DELIVERIES ((result file, destination) pairs).

from localgene import report as lg_report
from localgene.pipelines import dna_qc

QC_DIR = "results/qc"
QC_ROLES = ["tumor", "normal"] if DNA["job_type"] == "DNA_SOMATIC" else ["sample"]  # the VCF's columns
QC_OUTPUTS = dna_qc.outputs(QC_DIR, QC_ROLES, DNA["job_type"] == "DNA_SOMATIC")
REPORT = lg_report.REPORT_PATH
# The layout the report reads, named as localgene.report.dna expects.
REPORT_PATHS = {"summary": SUMMARY, "qc": QC_DIR, "logs": "logs"}


rule dna_qc:
    input:
        vcf=RESULT_VCF,
        bams=expand(BAM, role=QC_ROLES),
        bais=expand(BAM + ".bai", role=QC_ROLES),
    output:
        QC_OUTPUTS,
    params:
        roles=QC_ROLES,
        somatic=DNA["job_type"] == "DNA_SOMATIC",
        out_dir=QC_DIR,
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_qc", cluster=ON_CLUSTER),
    log:
        "logs/dna_qc.log",
    benchmark:
        "logs/benchmark/dna_qc.tsv",
    script:
        DNA_SCRIPT


rule dna_summary:
    input:
        RESULT_OUTPUTS,
        QC_OUTPUTS,
    output:
        SUMMARY,
    params:
        plan=DNA,
        extra=lambda wc, input: [p for p in input if p.endswith(".json") and p not in QC_OUTPUTS],
        benchmarks="logs/benchmark",
        declared_mem_mb=lambda wc: {r.name: dna_memory.mem_mb(r.name, REF_MB, ALIGN_THREADS if r.name == "dna_align" else 1, cluster=ON_CLUSTER)
                                    for r in workflow.rules if r.name in dna_memory.RULES},
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_summary", cluster=ON_CLUSTER),
    log:
        "logs/dna_summary.log",
    benchmark:
        "logs/benchmark/dna_summary.tsv",
    script:
        DNA_SCRIPT


rule dna_report:
    input:
        SUMMARY,
        QC_OUTPUTS,
    output:
        REPORT,
    params:
        paths=REPORT_PATHS,
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_report", cluster=ON_CLUSTER),
    log:
        "logs/dna_report.log",
    benchmark:
        "logs/benchmark/dna_report.tsv",
    script:
        DNA_SCRIPT


rule dna_deliver:
    input:
        RESULT_OUTPUTS + [SUMMARY, REPORT],
    output:
        DELIVERED,
    params:
        pairs=DELIVERIES + [[REPORT, dna_qc.report_destination(config["output"])]],
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_deliver", cluster=ON_CLUSTER),
    log:
        "logs/dna_deliver.log",
    benchmark:
        "logs/benchmark/dna_deliver.tsv",
    script:
        DNA_SCRIPT
