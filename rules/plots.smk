# Plots: a genome-wide scatter plot (14x6 in PNG) and a chromosome diagram (PNG rendered from
# CNVkit's PDF, kept too) per experimental sample, drawn by CNVkit from its copy ratios and
# segments.


rule scatter:
    input:
        cnr=CNR,
        cns=CNS,
    output:
        SCATTER,
    log:
        "logs/plots/{sample}.scatter.log",
    params:
        argv=lambda wc, input, output: ["scatter", input.cnr, "-s", input.cns, "--fig-size", "14", "6", "-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)


rule diagram:
    input:
        cnr=CNR,
        cns=CNS,
    output:
        pdf=DIAGRAM_PDF,
        png=DIAGRAM,
    log:
        "logs/plots/{sample}.diagram.log",
    params:
        argv=lambda wc, input, output: ["diagram", input.cnr, "-s", input.cns]
        + (["-y"] if PLAN.options.male_reference else [])
        + ["-o", output.pdf],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)
        lg_cnvkit_step.pdf_to_png(output.pdf, output.png)
