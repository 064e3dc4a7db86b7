# Coverage: read depth of every control and experimental BAM in target and antitarget bins.


rule coverage:
    input:
        bam=BAM,
        bai=BAI,
        bins=lambda wc: TARGETS if wc.kind == "target" else ANTITARGETS,
    output:
        COVERAGE,
    log:
        "logs/coverage/{sample}.{kind}.log",
    threads: step_threads("coverage")
    params:
        argv=lambda wc, input, output: ["coverage", input.bam, input.bins]
        + PLAN.argv("coverage")
        + ["-o", output[0]],
    conda:
        CNVKIT_ENV
    script:
        CNVKIT_SCRIPT
