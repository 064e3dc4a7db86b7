# Reference: the pooled copy-number reference built from every control's coverage.


rule reference:
    input:
        cnn=expand(COVERAGE, sample=CONTROLS, kind=["target", "antitarget"]),
        fasta=FASTA,
        fai=FAI,
    output:
        REFERENCE,
    log:
        "logs/reference.log",
    params:
        argv=lambda wc, input, output: ["reference", *input.cnn, "-f", input.fasta]
        + PLAN.argv("reference")
        + ["-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)
