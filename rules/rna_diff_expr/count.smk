# featureCounts over all samples (read pairs per gene, -s from library_type), the count matrix,
# and the strandedness check: the other -s settings counted too, their assigned pairs compared.


rule count:
    input:
        bams=expand(BAM, sample=SAMPLES),
        bais=expand(BAI, sample=SAMPLES),
        gtf=RNA.gtf,
    output:
        table=FEATURECOUNTS,
        summary=FEATURECOUNTS_SUMMARY,
        matrix=COUNTS,
    params:
        samples=SAMPLES,
        strand=DECLARED_STRAND,
    threads: 2
    resources:
        mem_mb=800 + CLUSTER_MB,
    log:
        "logs/rna/count.log",
    benchmark:
        "logs/rna/benchmark/count.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)


rule strand_count:
    input:
        bams=expand(BAM, sample=SAMPLES),
        bais=expand(BAI, sample=SAMPLES),
        gtf=RNA.gtf,
    output:
        table=temp("work/strandedness/s{strand}.txt"),
        summary=STRAND_COUNTS_SUMMARY,
    params:
        samples=SAMPLES,
    threads: 2
    resources:
        mem_mb=800 + CLUSTER_MB,
    log:
        "logs/rna/strand_count/s{strand}.log",
    benchmark:
        "logs/rna/benchmark/strand_count/s{strand}.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)


rule strandedness:
    input:
        s1=strand_summary(1),
        s2=strand_summary(2),
    output:
        tsv=STRANDEDNESS_TSV,
        json=STRANDEDNESS_JSON,
    params:
        samples=SAMPLES,
        library_type=RNA.library_type,
    threads: 1
    resources:
        mem_mb=200 + CLUSTER_MB,
    log:
        "logs/rna/strandedness.log",
    benchmark:
        "logs/rna/benchmark/strandedness.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)
