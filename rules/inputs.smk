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
    run:
        localgene_step(rule, params, input, output, log[0], wildcards)


rule sample_bam:
    output:
        bam=BAM,
        bai=BAI,
    params:
        src=lambda wc: lg_plan.local_path(PLAN.samples[wc.sample]),
        field=lambda wc: PLAN.field_of(wc.sample),
    log:
        "logs/inputs/{sample}.log",
    run:
        localgene_step(rule, params, input, output, log[0], wildcards)


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
    run:
        localgene_step(rule, params, input, output, log[0], wildcards)


rule annotation:
    output:
        ANNOTATION,
    params:
        src=lg_plan.local_path(PLAN.annotation or ""),
    log:
        "logs/inputs/annotation.log",
    run:
        localgene_step(rule, params, input, output, log[0], wildcards)
