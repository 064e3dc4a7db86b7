# DNA_GERMLINE: one sample's reads (a FASTQ pair, or a BAM) to variant calls.
#
#   reads -> bwa mem (read group) -> fixmate | sort -> markdup      (rules/dna_common/common.smk)
#   -> per shard: bcftools mpileup | call  or  freebayes  (QUAL >= min_qual)
#   -> concat -> bcftools norm -> IDs from knownsites (bcftools annotate) -> results/calls.vcf[.gz]
#   [is_export_bam: the duplicate-marked BAM + .bai]  -> results/job.json -> delivered
#
# What each body field does, and what differs from the service's GATK pipeline: docs/dna.md.


include: "../dna_common/common.smk"


#: HaplotypeCaller's default -stand-call-conf; read_pipeline_spark_conf can set another.
MIN_QUAL = DNA["min_qual"] if DNA["min_qual"] is not None else 30.0
EXPORT_BAM = "results/alignments.bam"

RESULT_OUTPUTS = [RESULT_VCF] + ([RESULT_VCF + ".tbi"] if RESULT_VCF.endswith(".gz") else [])
DELIVERIES = [[RESULT_VCF, config["output"]]]
if RESULT_VCF.endswith(".gz"):
    DELIVERIES.append([RESULT_VCF + ".tbi", config["output"] + ".tbi"])
if config.get("is_export_bam"):
    RESULT_OUTPUTS += [EXPORT_BAM, EXPORT_BAM + ".bai"]
    DELIVERIES += [[EXPORT_BAM, config["bam_output"]], [EXPORT_BAM + ".bai", config["bam_output"] + ".bai"]]


rule dna_call_germline:
    input:
        bam=expand(BAM, role="sample"),
        bai=expand(BAM + ".bai", role="sample"),
        bed=SHARD_BED,
        fasta=FASTA,
        fai=FASTA + ".fai",
    output:
        SHARD_VCF,
    params:
        plan=DNA,
        min_qual=MIN_QUAL,
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_call_germline", cluster=ON_CLUSTER),
    log:
        "logs/dna_call_germline.{shard}.log",
    benchmark:
        "logs/benchmark/dna_call_germline.{shard}.tsv",
    script:
        DNA_SCRIPT


rule dna_final_vcf:
    input:
        ANNOTATED,
    output:
        RESULT_OUTPUTS[: 2 if RESULT_VCF.endswith(".gz") else 1],
    params:
        samples=None,
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_final_vcf", cluster=ON_CLUSTER),
    log:
        "logs/dna_final_vcf.log",
    benchmark:
        "logs/benchmark/dna_final_vcf.tsv",
    script:
        DNA_SCRIPT


rule dna_export_bam:
    input:
        bam=expand(BAM, role="sample"),
        bai=expand(BAM + ".bai", role="sample"),
    output:
        bam=EXPORT_BAM,
        bai=EXPORT_BAM + ".bai",
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_export_bam", cluster=ON_CLUSTER),
    log:
        "logs/dna_export_bam.log",
    benchmark:
        "logs/benchmark/dna_export_bam.tsv",
    script:
        DNA_SCRIPT


include: "../dna_common/finish.smk"
