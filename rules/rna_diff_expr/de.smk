# DESeq2 (R, Debian r-bioc-deseq2) on the count matrix: design ~ group, the first group the
# reference level, one CSV per other group; then an MA and a volcano plot per contrast.


rule de:
    input:
        matrix=COUNTS,
        strandedness=STRANDEDNESS_JSON,
    output:
        coldata=COLDATA,
        tables=expand(DE_CSV, contrast=CONTRASTS),
        normalized=NORMALIZED,
        size_factors=SIZE_FACTORS,
    params:
        groups=[[s.name, s.group] for s in RNA.samples],
        reference=RNA.reference_group,
        script=DESEQ2_SCRIPT,
        outdir="results/de",
    threads: 1
    resources:
        mem_mb=1500 + CLUSTER_MB,
    log:
        "logs/rna/de.log",
    benchmark:
        "logs/rna/benchmark/de.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)


rule de_plots:
    input:
        table=DE_CSV,
    output:
        ma=MA_PNG,
        volcano=VOLCANO_PNG,
    threads: 1
    resources:
        mem_mb=400 + CLUSTER_MB,
    log:
        "logs/rna/de_plots/{contrast}.log",
    benchmark:
        "logs/rna/benchmark/de_plots/{contrast}.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)
