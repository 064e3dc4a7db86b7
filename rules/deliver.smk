# Summary and delivery: a record of what ran (options per step, warnings, tool versions) next
# to the results, then every result uploaded (s3a://, s3://) or copied (local paths) to
# output_dir/<run id>/, where the run id is the job's instance_id (or, for a plain Snakemake run
# without one, the name of the working directory).

RESULTS = (
    expand(
        [CNR, CNS, CALL, GENEMETRICS, SCATTER, DIAGRAM, DIAGRAM_PDF],
        sample=EXPERIMENTAL,
    )
    + expand(COVERAGE, sample=SAMPLES, kind=["target", "antitarget"])
    + [ACCESS, TARGETS, ANTITARGETS, REFERENCE, SEX]
)


rule summary:
    input:
        RESULTS,
        segment_check=SEGMENT_CHECK,
    output:
        SUMMARY,
    params:
        summary=lambda wc: PLAN.summary(config),
        # where the CBS pitfall check's warnings (rule segment_check) are appended too
        segment_logs={s: f"logs/segment/{s}.log" for s in EXPERIMENTAL},
    log:
        "logs/summary.log",
    run:
        localgene_step(rule, params, input, output, log[0], wildcards)


rule deliver:
    input:
        RESULTS + [SUMMARY, METRICS, REPORT],
    output:
        DELIVERED,
    params:
        results="results",
        output_dir=PLAN.output_dir,
        run_id=RUN_ID,
        destination=PLAN.destination(RUN_ID),
    log:
        "logs/deliver.log",
    run:
        localgene_step(rule, params, input, output, log[0], wildcards)
