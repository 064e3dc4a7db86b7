# The job summary (results/job.json: plan, warnings, tool versions, counts) and the delivery of
# each result to the path its body field names (local copy or S3 upload). Included last by
# rules/dna_germline/main.smk and rules/dna_somatic/main.smk, which define RESULT_OUTPUTS (the
# files of results/) and DELIVERIES ((result file, destination) pairs).


rule dna_summary:
    input:
        RESULT_OUTPUTS,
    output:
        SUMMARY,
    params:
        plan=DNA,
        extra=lambda wc, input: [p for p in input if p.endswith(".json")],
    threads: 1
    resources:
        mem_mb=200,
    log:
        "logs/dna_summary.log",
    script:
        DNA_SCRIPT


rule dna_deliver:
    input:
        RESULT_OUTPUTS + [SUMMARY],
    output:
        DELIVERED,
    params:
        pairs=DELIVERIES,
    threads: 1
    resources:
        mem_mb=300,
    log:
        "logs/dna_deliver.log",
    script:
        DNA_SCRIPT
