# Inputs: the reference, every BAM and the annotation, exposed inside the job folder with the
# indexes CNVkit needs (built here when missing, never next to the user's files), then checked
# against each other before any CNVkit step runs.

from localgene import annotation as lg_annotation
from localgene import inputs as lg_inputs


rule reference_fasta:
    output:
        fasta=FASTA,
        fai=FAI,
    log:
        "logs/inputs/reference.log",
    run:
        with lg_inputs.logged_problems(log[0]):
            lg_inputs.link_fasta(lg_plan.local_path(PLAN.ref), output.fasta)


rule sample_bam:
    output:
        bam=BAM,
        bai=BAI,
    params:
        src=lambda wc: lg_plan.local_path(PLAN.samples[wc.sample]),
    log:
        "logs/inputs/{sample}.log",
    run:
        with lg_inputs.logged_problems(log[0]):
            lg_inputs.link_bam(params.src, output.bam, field=f"BAM of sample {wildcards.sample}")


rule check_inputs:
    input:
        fai=FAI,
        bams=expand(BAM, sample=SAMPLES),
        bais=expand(BAI, sample=SAMPLES),
    output:
        CHECKED,
    log:
        "logs/inputs/check.log",
    run:
        with lg_inputs.logged_problems(log[0]):
            summary = lg_inputs.check_inputs(
                input.fai,
                {s: BAM.format(sample=s) for s in SAMPLES},
                lg_plan.local_path(PLAN.bed),
            )
            lg_inputs.write_json(output[0], summary)


rule annotation:
    output:
        ANNOTATION,
    log:
        "logs/inputs/annotation.log",
    run:
        with lg_inputs.logged_problems(log[0]):
            fmt = lg_annotation.prepare_annotation(lg_plan.local_path(PLAN.annotation), output[0])
            Path(log[0]).write_text(f"annotation format: {fmt}\n")
