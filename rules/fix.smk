# Fix: each experimental sample's coverage normalised against the reference (.cnr).


rule fix:
    input:
        target=COVERAGE.replace("{kind}", "target"),
        antitarget=COVERAGE.replace("{kind}", "antitarget"),
        reference=REFERENCE,
    output:
        CNR,
    log:
        "logs/fix/{sample}.log",
    params:
        argv=lambda wc, input, output: ["fix", input.target, input.antitarget, "-r", input.reference]
        + PLAN.argv("fix")
        + ["-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)
