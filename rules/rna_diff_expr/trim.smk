# Adapter trimming (only when the body gives `adapt`): cutadapt -a ADAPT -A ADAPT on both reads.


rule trim:
    input:
        r1=lambda wc: RNA.sample(wc.sample).r1,
        r2=lambda wc: RNA.sample(wc.sample).r2,
    output:
        r1=temp(TRIMMED_R1),
        r2=temp(TRIMMED_R2),
        report=CUTADAPT_REPORT,
    params:
        adapter=RNA.adapt,
    threads: 2
    resources:
        mem_mb=300 + CLUSTER_MB,
    log:
        "logs/rna/trim/{sample}.log",
    benchmark:
        "logs/rna/benchmark/trim/{sample}.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)
