# Summary and delivery: a record of what ran (options per step, warnings, tool versions) next
# to the results, then every result copied to output_dir (output_dir/<instance_id>/ when the
# job has an instance_id).

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
    output:
        SUMMARY,
    params:
        summary=lambda wc: PLAN.summary(config),
    log:
        "logs/summary.log",
    script:
        LOCALGENE_SCRIPT


rule deliver:
    input:
        RESULTS + [SUMMARY],
    output:
        DELIVERED,
    params:
        results="results",
        output_dir=PLAN.output_dir,
        instance_id=PLAN.instance_id,
    log:
        "logs/deliver.log",
    script:
        LOCALGENE_SCRIPT
