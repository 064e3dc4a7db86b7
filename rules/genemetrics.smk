# Genemetrics: genes with copy-number gains or losses in each experimental sample.


rule genemetrics:
    input:
        cnr=CNR,
        cns=CNS,
    output:
        GENEMETRICS,
    log:
        "logs/genemetrics/{sample}.log",
    params:
        argv=lambda wc, input, output: ["genemetrics", input.cnr, "-s", input.cns]
        + PLAN.argv("genemetrics")
        + ["-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)
