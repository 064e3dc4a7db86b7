# Regions: accessible sequence of the reference, target bins from the BED (optionally annotated
# with gene names), and off-target (antitarget) bins between them.


rule access:
    input:
        fasta=FASTA,
        checked=CHECKED,
    output:
        ACCESS,
    log:
        "logs/access.log",
    params:
        argv=lambda wc, input, output: ["access", input.fasta, "-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)


rule target:
    input:
        bed=lg_plan.local_path(PLAN.bed),
        checked=CHECKED,
        annotation=[ANNOTATION] if PLAN.annotation else [],
    output:
        TARGETS,
    log:
        "logs/target.log",
    params:
        argv=lambda wc, input, output: ["target", input.bed, *PLAN.argv("target")]
        + (["--annotate", input.annotation[0]] if input.annotation else [])
        + ["-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)


rule antitarget:
    input:
        targets=TARGETS,
        access=ACCESS,
    output:
        ANTITARGETS,
    log:
        "logs/antitarget.log",
    params:
        argv=lambda wc, input, output: ["antitarget", input.targets, "-g", input.access]
        + PLAN.argv("antitarget")
        + ["-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)
