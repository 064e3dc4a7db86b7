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
        benchmarks="logs/benchmark",
        declared_mem_mb=lambda wc: {r.name: dna_memory.mem_mb(r.name, REF_MB, ALIGN_THREADS if r.name == "dna_align" else 1)
                                    for r in workflow.rules if r.name in dna_memory.RULES},
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_summary"),
    log:
        "logs/dna_summary.log",
    benchmark:
        "logs/benchmark/dna_summary.tsv",
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
        mem_mb=dna_memory.mem_mb("dna_deliver"),
    log:
        "logs/dna_deliver.log",
    benchmark:
        "logs/benchmark/dna_deliver.tsv",
    script:
        DNA_SCRIPT
