"""The memory (MB) each step of the DNA workflows declares (``resources: mem_mb``).

Every rule of rules/dna_common, rules/dna_germline and rules/dna_somatic declares
``mem_mb=dna_memory.mem_mb(<rule>, REF_MB, threads)``; SLURM's ``--mem`` and the local
scheduler's ``--resources mem_mb=`` read it. A step's figure is

    PYTHON_MB  (the step's Python process: Snakemake's script directive, localgene, pysam)
  + the tools' own part below, which is either fixed (tools that stream: their memory does not
    grow with the input) or grows with the reference (the bwa steps) or is the sort buffer the
    step gives its sort tool (:data:`SORT_MEM_MB`, passed to ``samtools sort -m`` and
    ``bcftools sort -m``, so the bound holds for any input size).

The parts come from the peak RSS measured per step by ``benchmarks/dna_vs_hand.py`` (the same
tools by hand under ``/usr/bin/time -v``, and the job's own per-step Snakemake benchmark records
``logs/benchmark/*.tsv``) on the demo data (1 Mb genome, 30-40x), with room above them; the
reference-dependent parts from the sizes of what bwa holds (docs/dna.md, "Memory per step").
"""

from __future__ import annotations

import os

from localgene.run.execution import CLUSTER_JOB_SNAKEMAKE_MB

#: The Python process every step runs in (measured: 29-31 MB for the imports; room for pysam).
PYTHON_MB = 100
#: The buffer given to ``samtools sort -m`` / ``bcftools sort -m`` (each sort runs on one thread).
SORT_MEM_MB = 400
#: bwa mem holds its index: ``.bwt`` (1 byte per base), ``.sa`` (1/2), ``.pac`` (1/4) = 1.75
#: bytes per reference base (the demo genome: 1.75 MB of index files for 1.0 MB of FASTA).
BWA_MEM_BYTES_PER_BASE = 1.75
#: bwa mem's reads and alignments of one batch (``-K 10000000`` bases), and per thread.
BWA_BATCH_MB, BWA_THREAD_MB = 200, 50
#: bwa index picks its algorithm by size: ``is`` up to 25 Mb (bwa: both strands <= 50,000,000),
#: ``bwtsw`` above. Measured peak RSS (``/usr/bin/time -v bwa index``): ``is`` 12.6 MB for 1 Mb,
#: 104.6 MB for 10 Mb (10.5 bytes per base); ``bwtsw`` 66 MB for 30 Mb (2.2 bytes per base).
BWA_INDEX_IS_MAX_MB = 25.0
BWA_INDEX_IS_BYTES_PER_BASE, BWA_INDEX_BWTSW_BYTES_PER_BASE = 11.0, 2.5

#: The tools' part of the steps whose memory does not grow with their input (MB).
FIXED_MB: dict[str, int] = {
    "dna_reference": 100,  # samtools faidx / dict: stream the FASTA
    "dna_markdup": 300,  # samtools markdup: reads of one position window (measured 5 MB)
    "dna_knownsites": 100,  # bcftools view / index: stream
    "dna_resource": 100,
    "dna_shards": 100,  # BED files from the .fai
    "dna_call_germline": 500,  # bcftools mpileup | call | view, one shard (measured 37 MB)
    "dna_call_somatic": 900,  # freebayes on tumor + normal, one shard (measured 9 MB; grows with depth)
    "dna_norm": 200,  # bcftools norm: streams, holds a window of the reference
    "dna_annotate_ids": 200,  # bcftools annotate -a: streams both files
    "dna_classify": 300,  # pysam: one record at a time, a pileup at the orientation sites (measured 22 MB)
    "dna_final_vcf": 100,
    "dna_export_bam": 100,  # samtools view -L / a copy
    "dna_summary": 100,
    "dna_qc": 300,  # bcftools stats / query and samtools flagstat stream; matplotlib draws one chart
    "dna_report": 300,  # pandas, jinja2 and the embedded PNGs of one page
    "dna_deliver": 200,  # local copies or S3 multipart uploads (boto3 buffers)
}
#: Steps bounded by their sort buffer: the tools' part is SORT_MEM_MB plus this.
SORT_STEPS_MB: dict[str, int] = {
    "dna_prepare_bam": 300,  # samtools collate | fixmate | sort -m | markdup
    "dna_concat": 100,  # bcftools concat | sort -m
}


def ref_mb(fasta: str | os.PathLike) -> float:
    """The reference FASTA's size in MB (about its bases in millions); 0 if it is not there."""
    try:
        return os.path.getsize(fasta) / 1e6
    except OSError:
        return 0.0


#: What a step's cluster job adds (the job's Snakemake processes): localgene.run.execution.
SNAKEMAKE_CLUSTER_MB = CLUSTER_JOB_SNAKEMAKE_MB


def mem_mb(rule: str, reference_mb: float = 0.0, threads: int = 1, *, cluster: bool = False) -> int:
    """The ``mem_mb`` a DNA step declares (see the module docstring for the formula); with
    ``cluster`` (a cluster executor), plus :data:`SNAKEMAKE_CLUSTER_MB`."""
    if rule == "dna_bwa_index":
        per_base = BWA_INDEX_IS_BYTES_PER_BASE if reference_mb <= BWA_INDEX_IS_MAX_MB else BWA_INDEX_BWTSW_BYTES_PER_BASE
        tools = per_base * reference_mb
    elif rule == "dna_align":  # bwa mem | samtools fixmate | samtools sort -m
        tools = BWA_MEM_BYTES_PER_BASE * reference_mb + BWA_BATCH_MB + BWA_THREAD_MB * threads + SORT_MEM_MB
    elif rule in SORT_STEPS_MB:
        tools = SORT_MEM_MB + SORT_STEPS_MB[rule]
    elif rule in FIXED_MB:
        tools = FIXED_MB[rule]
    else:
        raise KeyError(f"no memory figure for step {rule!r}")
    return int(PYTHON_MB + tools + (SNAKEMAKE_CLUSTER_MB if cluster else 0) + 0.5)


#: Every step with a figure (the tests check each DNA rule declares its own).
RULES = ("dna_bwa_index", "dna_align", *SORT_STEPS_MB, *FIXED_MB)
