# Inputs: the reference, every BAM and the annotation, exposed inside the job folder with the
# indexes CNVkit needs (built here when missing, never next to the user's files), then checked
# against each other before any CNVkit step runs.


rule reference_fasta:
    output:
        fasta=FASTA,
        fai=FAI,
    params:
        src=lg_plan.local_path(PLAN.ref),
    log:
        "logs/inputs/reference.log",
    script:
        LOCALGENE_SCRIPT


rule sample_bam:
    output:
        bam=BAM,
        bai=BAI,
    params:
        src=lambda wc: lg_plan.local_path(PLAN.samples[wc.sample]),
        field=lambda wc: PLAN.field_of(wc.sample),
    log:
        "logs/inputs/{sample}.log",
    script:
        LOCALGENE_SCRIPT


rule check_inputs:
    input:
        fai=FAI,
        bams=expand(BAM, sample=SAMPLES),
        bais=expand(BAI, sample=SAMPLES),
    output:
        CHECKED,
    params:
        samples=SAMPLES,
        bed=lg_plan.local_path(PLAN.bed),
    log:
        "logs/inputs/check.log",
    script:
        LOCALGENE_SCRIPT


rule annotation:
    output:
        ANNOTATION,
    params:
        src=lg_plan.local_path(PLAN.annotation or ""),
    log:
        "logs/inputs/annotation.log",
    script:
        LOCALGENE_SCRIPT
