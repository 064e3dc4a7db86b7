# DNA_SOMATIC: a tumor and a normal sample's reads to somatic calls.
#
#   each sample: bwa mem (SM = tumor_sample_name / normal_sample_name) -> fixmate | sort -> markdup
#   -> per shard of the intervals: freebayes on tumor + normal together (bcbio's paired settings)
#   -> concat -> bcftools norm -m -any -> IDs from knownsites
#   -> somatic classification (tumor/normal LODs, normal frequency; pon, germline_resource,
#      orientation, alignment filters: localgene.pipelines.somatic)
#   -> results/calls.vcf[.gz] (columns: tumor, normal)
#   [mutect_is_export_bam: tumor reads within 300 bp of PASS calls]  -> results/job.json -> delivered
#
# What each body field does, and what differs from Mutect2 / FilterMutectCalls: docs/dna.md.


include: "../dna_common/common.smk"


CLASSIFIED = "calls/classified.vcf.gz"
COUNTS = "calls/classified.json"
EXPORT_BAM = "results/tumor_around_calls.bam"
RESOURCE = "resources/{name}.vcf.gz"
RESOURCES = {n: config[n] for n in ("pon", "germline_resource") if (config.get(n) or "").strip()}

RESULT_OUTPUTS = [RESULT_VCF] + ([RESULT_VCF + ".tbi"] if RESULT_VCF.endswith(".gz") else [])
DELIVERIES = [[RESULT_VCF, config["output"]]]
if RESULT_VCF.endswith(".gz"):
    DELIVERIES.append([RESULT_VCF + ".tbi", config["output"] + ".tbi"])
if config.get("mutect_is_export_bam"):
    RESULT_OUTPUTS += [EXPORT_BAM, EXPORT_BAM + ".bai"]
    DELIVERIES += [[EXPORT_BAM, config["mutect_bam_output"]], [EXPORT_BAM + ".bai", config["mutect_bam_output"] + ".bai"]]
RESULT_OUTPUTS.append(COUNTS)


rule dna_resource:
    input:
        lambda wc: RESOURCES[wc.name],
    output:
        vcf=RESOURCE,
        tbi=RESOURCE + ".tbi",
    params:
        field=lambda wc: wc.name,
    wildcard_constraints:
        name="pon|germline_resource",
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_resource", cluster=ON_CLUSTER),
    log:
        "logs/dna_resource.{name}.log",
    benchmark:
        "logs/benchmark/dna_resource.{name}.tsv",
    script:
        DNA_SCRIPT


rule dna_call_somatic:
    input:
        tumor=expand(BAM, role="tumor"),
        normal=expand(BAM, role="normal"),
        bai=expand(BAM + ".bai", role=["tumor", "normal"]),
        bed=SHARD_BED,
        fasta=FASTA,
        fai=FASTA + ".fai",
    output:
        SHARD_VCF,
    params:
        plan=DNA,
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_call_somatic", cluster=ON_CLUSTER),
    log:
        "logs/dna_call_somatic.{shard}.log",
    benchmark:
        "logs/benchmark/dna_call_somatic.{shard}.tsv",
    script:
        DNA_SCRIPT


rule dna_classify:
    input:
        vcf=ANNOTATED,
        tumor=expand(BAM, role="tumor"),
        bai=expand(BAM + ".bai", role="tumor"),
        resources=expand(RESOURCE, name=list(RESOURCES)),
    output:
        vcf=CLASSIFIED,
        tbi=CLASSIFIED + ".tbi",
        counts=COUNTS,
    params:
        tumor=SAMPLES["tumor"]["name"],
        normal=SAMPLES["normal"]["name"],
        pon=expand(RESOURCE, name="pon")[0] if "pon" in RESOURCES else None,
        germline_resource=expand(RESOURCE, name="germline_resource")[0] if "germline_resource" in RESOURCES else None,
        orientation_modes=DNA["orientation_modes"],
        alignment_filter=DNA["alignment_filter"],
    threads: 1
    resources:
        mem_mb=dna_memory.mem_mb("dna_classify", cluster=ON_CLUSTER),
    log:
        "logs/dna_classify.log",
    benchmark:
        "logs/benchmark/dna_classify.tsv",
    script:
        DNA_SCRIPT


rule dna_final_vcf:
    input:
        CLASSIFIED,
    output:
        RESULT_OUTPUTS[: 2 if RESULT_VCF.endswith(".gz") else 1],
    params:
        samples=[SAMPLES["tumor"]["name"], SAMPLES["normal"]["name"]],
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
        bam=expand(BAM, role="tumor"),
        bai=expand(BAM + ".bai", role="tumor"),
        vcf=CLASSIFIED,
    output:
        bam=EXPORT_BAM,
        bai=EXPORT_BAM + ".bai",
    params:
        pad=300,
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
