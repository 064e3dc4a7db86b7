# HISAT2 per sample (with --rna-strandness from library_type), piped into samtools sort, then
# samtools index.


rule align:
    input:
        unpack(reads),
        index=INDEX_RECORD,
    output:
        bam=BAM,
        bai=BAI,
        summary=HISAT2_SUMMARY,
    params:
        library_type=RNA.library_type,
        sort_mem_mb=256,
    threads: 2
    resources:
        mem_mb=rna_index.align_mem_mb(REF_MB) + CLUSTER_MB,
    log:
        "logs/rna/align/{sample}.log",
    benchmark:
        "logs/rna/benchmark/align/{sample}.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)
