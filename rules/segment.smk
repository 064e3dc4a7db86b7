# Segment: each experimental sample's copy ratios split into segments (.cns).


rule segment:
    input:
        CNR,
    output:
        CNS,
    log:
        "logs/segment/{sample}.log",
    threads: step_threads("segment")
    params:
        argv=lambda wc, input, output: ["segment", input[0], *PLAN.argv("segment"), "-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)
