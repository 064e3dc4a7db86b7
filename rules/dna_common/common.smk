# Shared by DNA_GERMLINE and DNA_SOMATIC: the checked plan, the reference and its indexes,
# reads to a duplicate-marked BAM per sample, known-sites and resource VCFs, calling shards,
# the joined/normalised/annotated calls, the job summary and the delivery. Every step runs
# rules/dna_common/scripts/dna_step.py (localgene.pipelines.dna_steps): argument lists, pipes
# between tools as subprocess pipes, the exact command line first in the step's log.

from pathlib import Path

from localgene.pipelines import dna, dna_memory, dna_regions

DNA = dna.plan(config)  # raises UnsupportedOption / InvalidRequest before anything runs
DNA_SCRIPT = str(Path(workflow.basedir) / "rules" / "dna_common" / "scripts" / "dna_step.py")
SAMPLES = {s["role"]: s for s in DNA["samples"]}  # "sample", or "tumor" and "normal"
CORES = max(1, workflow.cores or 1)
ALIGN_THREADS = DNA["align_threads"] or CORES
CALL_THREADS = DNA["call_threads"] or CORES

wildcard_constraints:
    role="|".join(SAMPLES),
    shard=r"\d+",
    k=r"\d+",

# Layout of the job folder.
REF_DIR = "ref"
FASTA = "ref/genome.fa"
BWA_INDEX = multiext("ref/genome.fa", ".amb", ".ann", ".bwt", ".pac", ".sa")
BAM = "bam/{role}.bam"
KNOWN = "known/{k}.vcf.gz"
SHARD_BED = "calls/shard{shard}.bed"
SHARD_VCF = "calls/shard{shard}.vcf.gz"
RAW = "calls/raw.vcf.gz"
NORM = "calls/norm.vcf.gz"
ANNOTATED = "calls/annotated.vcf.gz"
RESULT_VCF = "results/calls.vcf.gz" if config["output"].lower().endswith(".gz") else "results/calls.vcf"
SUMMARY = "results/job.json"
DELIVERED = "logs/delivered.json"

KNOWNSITES = list(config.get("knownsites") or [])
INTERVALS = list(config.get("intervals") or [])

# The shared indexes (localgene.pipelines.index_cache); without the config key, a cache in the job folder.
REF_CACHE = config.get("index_cache") or f"{REF_DIR}/cache"

# Calling shards: contigs with calling regions, grouped into at most CORES shards of similar size.
# The contig list comes from the cached .fai (built once; every later parse only stats the FASTA).
_CHROMS = dna_regions.reference_contigs(config["ref"], REF_CACHE)
if INTERVALS:
    _with_regions = {c for c, _, _ in dna_regions.intervals_to_bed(INTERVALS, dict(_CHROMS))}
    _CHROMS = [c for c in _CHROMS if c[0] in _with_regions]
    if not _CHROMS:
        raise ValueError("intervals: no calling region on a contig of the reference")
SHARDS = [[c for c, _ in group] for group in dna_regions.shards(_CHROMS, min(CORES, 16))]
SHARD_IDS = [str(i) for i in range(len(SHARDS))]

# Each step declares resources: mem_mb from localgene.pipelines.dna_memory (the formulas and
# their measurements: docs/dna.md, "Memory per step"); the bwa steps grow with the reference.
REF_MB = dna_memory.ref_mb(config["ref"])
# In a cluster job the step shares its memory limit with Snakemake itself (dna_memory).
ON_CLUSTER = workflow.non_local_exec


rule dna_reference:
    output:
        fasta=FASTA,
        fai=FASTA + ".fai",
        dict="ref/genome.dict",
    params:
        src=config["ref"],
        dest=REF_DIR,
        cache=REF_CACHE,
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_reference", cluster=ON_CLUSTER),
    log:
        "logs/dna_reference.log",
    benchmark:
        "logs/benchmark/dna_reference.tsv",
    script:
        DNA_SCRIPT


rule dna_bwa_index:
    input:
        FASTA,
    output:
        BWA_INDEX,
    params:
        dest=REF_DIR,
        cache=REF_CACHE,
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_bwa_index", REF_MB, cluster=ON_CLUSTER),
    log:
        "logs/dna_bwa_index.log",
    benchmark:
        "logs/benchmark/dna_bwa_index.tsv",
    script:
        DNA_SCRIPT


if DNA["file_type"] == "FASTQ":

    rule dna_align:
        input:
            r1=lambda wc: SAMPLES[wc.role]["files"][0],
            r2=lambda wc: SAMPLES[wc.role]["files"][1],
            index=BWA_INDEX,
        output:
            temp("bam/{role}.sorted.bam"),
        params:
            prefix=FASTA,
            read_group=lambda wc: SAMPLES[wc.role]["read_group"],
        threads: ALIGN_THREADS
        resources:
            mem_mb=lambda wc, threads: dna_memory.mem_mb("dna_align", REF_MB, threads, cluster=ON_CLUSTER),
        log:
            "logs/dna_align.{role}.log",
        benchmark:
            "logs/benchmark/dna_align.{role}.tsv",
        script:
            DNA_SCRIPT

    rule dna_markdup:
        input:
            "bam/{role}.sorted.bam",
        output:
            bam=BAM,
            bai=BAM + ".bai",
        params:
            remove_duplicates=DNA["remove_duplicates"],
        threads: min(2, CALL_THREADS)
        resources:
            mem_mb=dna_memory.mem_mb("dna_markdup", cluster=ON_CLUSTER),
        log:
            "logs/dna_markdup.{role}.log",
        benchmark:
            "logs/benchmark/dna_markdup.{role}.tsv",
        script:
            DNA_SCRIPT

else:

    rule dna_prepare_bam:
        input:
            lambda wc: SAMPLES[wc.role]["files"][0],
        output:
            bam=BAM,
            bai=BAM + ".bai",
        params:
            expected=lambda wc: SAMPLES[wc.role]["name"],
            field=lambda wc: "input[0]" if wc.role == "sample" else f"inputs[{0 if wc.role == 'tumor' else 1}].sample_inputs[0]",
            remove_duplicates=DNA["remove_duplicates"],
        threads: min(2, CALL_THREADS)
        resources:
            mem_mb=dna_memory.mem_mb("dna_prepare_bam", cluster=ON_CLUSTER),
        log:
            "logs/dna_prepare_bam.{role}.log",
        benchmark:
            "logs/benchmark/dna_prepare_bam.{role}.tsv",
        script:
            DNA_SCRIPT


rule dna_knownsites:
    input:
        lambda wc: KNOWNSITES[int(wc.k)],
    output:
        vcf=KNOWN,
        tbi=KNOWN + ".tbi",
    params:
        field=lambda wc: f"knownsites[{wc.k}]",
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_knownsites", cluster=ON_CLUSTER),
    log:
        "logs/dna_knownsites.{k}.log",
    benchmark:
        "logs/benchmark/dna_knownsites.{k}.tsv",
    script:
        DNA_SCRIPT


rule dna_shards:
    input:
        fai=FASTA + ".fai",
        intervals=INTERVALS,
    output:
        expand(SHARD_BED, shard=SHARD_IDS),
    params:
        fasta=FASTA,
        shards=SHARDS,
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_shards", cluster=ON_CLUSTER),
    log:
        "logs/dna_shards.log",
    benchmark:
        "logs/benchmark/dna_shards.tsv",
    script:
        DNA_SCRIPT


rule dna_concat:
    input:
        expand(SHARD_VCF, shard=SHARD_IDS),
    output:
        vcf=RAW,
        tbi=RAW + ".tbi",
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_concat", cluster=ON_CLUSTER),
    log:
        "logs/dna_concat.log",
    benchmark:
        "logs/benchmark/dna_concat.tsv",
    script:
        DNA_SCRIPT


rule dna_norm:
    input:
        vcf=RAW,
        fasta=FASTA,
    output:
        vcf=NORM,
        tbi=NORM + ".tbi",
    params:
        split=DNA["job_type"] == "DNA_SOMATIC",  # one ALT per record for the classification
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_norm", cluster=ON_CLUSTER),
    log:
        "logs/dna_norm.log",
    benchmark:
        "logs/benchmark/dna_norm.tsv",
    script:
        DNA_SCRIPT


rule dna_annotate_ids:
    input:
        vcf=NORM,
        known=expand(KNOWN, k=range(len(KNOWNSITES))),
    output:
        vcf=ANNOTATED,
        tbi=ANNOTATED + ".tbi",
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_annotate_ids", cluster=ON_CLUSTER),
    log:
        "logs/dna_annotate_ids.log",
    benchmark:
        "logs/benchmark/dna_annotate_ids.tsv",
    script:
        DNA_SCRIPT
