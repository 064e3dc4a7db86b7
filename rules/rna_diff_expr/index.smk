# The HISAT2 index of `ref`, with the splice sites (and, for genomes up to
# localgene.pipelines.rna.index.FULL_INDEX_MAX_BASES, the exons) of `gtf`: the shared one of the config's
# `index_cache` (localgene.pipelines.index_cache: built once per FASTA + GTF content, reused by later
# jobs; without the key, a cache inside the job folder), linked into the job folder. The record
# it writes (index.json: prefix, mode, splice-site file) is all the alignment step reads.


rule hisat2_index:
    input:
        fasta=RNA.ref,
        gtf=RNA.gtf,
    output:
        record=INDEX_RECORD,
    params:
        dest=INDEX_DIR,
        cache=config.get("index_cache") or "",
    threads: 2
    resources:
        mem_mb=lambda wc, input: rna_index.build_mem_mb(input.size_mb) + CLUSTER_MB,
    log:
        "logs/rna/hisat2_index.log",
    benchmark:
        "logs/rna/benchmark/hisat2_index.tsv",
    run:
        rna_step(rule, input, output, params, threads, wildcards, log)
