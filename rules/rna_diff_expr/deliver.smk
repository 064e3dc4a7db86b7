# results/job.json (request, reference level, contrasts, commands of every step, warnings, tool
# versions), then every result delivered to `output` (localgene.pipelines.rna.summary.deliver).

RESULTS = (
    [COUNTS, FEATURECOUNTS, FEATURECOUNTS_SUMMARY, NORMALIZED, SIZE_FACTORS, STRANDEDNESS_TSV]
    + expand([DE_CSV, MA_PNG, VOLCANO_PNG], contrast=CONTRASTS)
    + expand(HISAT2_SUMMARY, sample=SAMPLES)
    + (expand(CUTADAPT_REPORT, sample=SAMPLES) if RNA.adapt else [])
    + ([QC_TSV, QC_PNG] if RNA.qc else [])
)


rule summary:
    input:
        RESULTS,
        index=INDEX_RECORD,
        strandedness=STRANDEDNESS_JSON,
    output:
        SUMMARY,
    params:
        request=dict(config),
        results=RESULTS,
        cutadapt_reports=expand(CUTADAPT_REPORT, sample=SAMPLES) if RNA.adapt else [],
    threads: 1
    resources:
        mem_mb=300 + CLUSTER_MB,
    log:
        "logs/rna/summary.log",
    benchmark:
        "logs/rna/benchmark/summary.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)


rule deliver:
    input:
        RESULTS + [SUMMARY, REPORT],
    output:
        DELIVERED,
    params:
        run_id=RUN_ID,
        first_csv=DE_CSV.format(contrast=CONTRASTS[0]),
    threads: 1
    resources:
        mem_mb=300 + CLUSTER_MB,
    log:
        "logs/rna/deliver.log",
    benchmark:
        "logs/rna/benchmark/deliver.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)


localrules:
    summary,
    deliver,
