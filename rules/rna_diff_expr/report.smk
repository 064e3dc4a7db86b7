# results/report.html: one self-contained page (plots inlined) with the QC per sample, the MA and
# volcano plots and the top genes of every contrast, the commands, warnings, tool versions and
# the step timeline (localgene.report.rna; docs/report.md). Delivered with the other results.

# The layout the report reads, named as localgene.report.rna expects.
REPORT_PATHS = {
    "summary": SUMMARY,
    "de_csv": DE_CSV,
    "ma": MA_PNG,
    "volcano": VOLCANO_PNG,
    "hisat2": HISAT2_SUMMARY,
    "cutadapt": CUTADAPT_REPORT,
    "featurecounts_summary": FEATURECOUNTS_SUMMARY,
    "rrna_summary": RRNA_SUMMARY,
    "qc_png": QC_PNG,
    "benchmarks": "logs/rna/benchmark",
}


rule report:
    input:
        RESULTS,
        SUMMARY,
        ([RRNA_SUMMARY] if RNA.qc else []),
    output:
        REPORT,
    params:
        paths=REPORT_PATHS,
    threads: 1
    resources:
        mem_mb=400 + CLUSTER_MB,
    log:
        "logs/rna/report.log",
    benchmark:
        "logs/rna/benchmark/report.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)


localrules:
    report,
