# The HISAT2 index of `ref`, with the splice sites (and, for genomes up to
# localgene.rna.index.FULL_INDEX_MAX_BASES, the exons) of `gtf`. Built in the job folder by
# localgene.rna.index.build_hisat2_index(destination folder, ...); the record it writes
# (index.json: prefix, mode, splice-site file) is all the alignment step reads, so a shared
# index cache can provide the same record instead.


rule hisat2_index:
    input:
        fasta=RNA.ref,
        gtf=RNA.gtf,
    output:
        record=INDEX_RECORD,
    params:
        dest=INDEX_DIR,
    threads: 2
    resources:
        mem_mb=lambda wc, input: rna_index.build_mem_mb(input.size_mb),
    log:
        "logs/rna/hisat2_index.log",
    benchmark:
        "logs/rna/benchmark/hisat2_index.tsv",
    script:
        STEP_SCRIPT
