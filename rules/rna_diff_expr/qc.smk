# Per-sample QC (is_export_qc with a bed): read pairs in and trimmed, aligned %, assigned %, rRNA
# fraction (featureCounts over the bed's regions), strandedness; a TSV and a PNG.


rule rrna_count:
    input:
        bams=expand(BAM, sample=SAMPLES),
        bais=expand(BAI, sample=SAMPLES),
        bed=RNA.bed or [],
    output:
        saf=RRNA_SAF,
        table=temp("work/qc/rrna.txt"),
        summary=RRNA_SUMMARY,
    params:
        samples=SAMPLES,
    threads: 2
    resources:
        mem_mb=800 + CLUSTER_MB,
    log:
        "logs/rna/rrna_count.log",
    benchmark:
        "logs/rna/benchmark/rrna_count.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)


rule qc:
    input:
        hisat2=expand(HISAT2_SUMMARY, sample=SAMPLES),
        genes=FEATURECOUNTS_SUMMARY,
        rrna=RRNA_SUMMARY,
        strandedness=STRANDEDNESS_JSON,
        cutadapt=expand(CUTADAPT_REPORT, sample=SAMPLES) if RNA.adapt else [],
    output:
        tsv=QC_TSV,
        png=QC_PNG,
    params:
        groups={s.name: s.group for s in RNA.samples},
        library_type=RNA.library_type,
    threads: 1
    resources:
        mem_mb=400 + CLUSTER_MB,
    log:
        "logs/rna/qc.log",
    benchmark:
        "logs/rna/benchmark/qc.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)
