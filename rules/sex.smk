# Sex: chromosomal sex inferred for every control and experimental sample from its target
# coverage (one table row per sample).


rule sex:
    input:
        expand(COVERAGE, sample=SAMPLES, kind=["target"]),
    output:
        SEX,
    log:
        "logs/sex.log",
    params:
        argv=lambda wc, input, output: ["sex", *input, *PLAN.argv("sex"), "-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)
