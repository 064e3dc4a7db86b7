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


# The CBS pitfall check (localgene.cnvkit.segment_check): which samples' .cnr hold bins with no
# coverage, over which `segment -m cbs` without --drop-low-coverage can hide losses. Its
# warnings ({sample: warning}) go into the job's summary and the samples' segment logs (rule
# summary). It reads the .cnr files with CNVkit, so it runs as CNVkit steps do: forked by the
# job's CNVkit step server (on SLURM, by the group job's), else as a process of its own.
SEGMENT_CHECK = "logs/segment_check.json"


rule segment_check:
    input:
        expand(CNR, sample=EXPERIMENTAL),
    output:
        SEGMENT_CHECK,
    log:
        "logs/segment_check.log",
    params:
        cnrs=lambda wc, input: dict(zip(EXPERIMENTAL, input)),
        method=PLAN.options.segment_method,
        drop_low_coverage=bool(PLAN.options.value("segment", "drop_low_coverage")),
    conda:
        CNVKIT_ENV
    run:
        lg_workflow_steps.segment_check(params, output[0], log[0], conda_env)
