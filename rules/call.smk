# Call: integer copy numbers for each experimental sample's segments (.call.cns).


rule call:
    input:
        CNS,
    output:
        CALL,
    log:
        "logs/call/{sample}.log",
    params:
        argv=lambda wc, input, output: ["call", input[0], *PLAN.argv("call"), "-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)
