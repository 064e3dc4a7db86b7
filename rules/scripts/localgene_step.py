"""localgene's own (non-CNVkit) steps, run by Snakemake's script directive.

One entry per rule name: exposing inputs with their indexes, checking them, preparing the
annotation, writing the job summary and report, and delivering results. A refused input is written to the
rule's log as one ``error: …`` line (which localgene shows as the job's failure reason) and the
step exits non-zero, without a traceback.
"""

import sys

from localgene import annotation, inputs, storage
from localgene.errors import LocalgeneError

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
p, inp, out = snakemake.params, snakemake.input, snakemake.output


def reference_fasta():
    inputs.link_fasta(p.src, out.fasta)


def sample_bam():
    inputs.link_bam(p.src, out.bam, field=p.field)


def check_inputs():
    inputs.write_json(out[0], inputs.check_inputs(inp.fai, dict(zip(p.samples, inp.bams)), p.bed))


def annotation_file():
    fmt = annotation.prepare_annotation(p.src, out[0])
    print(f"annotation format: {fmt}")


def summary():
    inputs.write_json(out[0], p.summary)


def report_page():
    from localgene import report  # pandas and jinja2: only this step needs them

    report.write_report(".", p.paths, out[0])


def deliver():
    files = storage.deliver_results(p.results, p.output_dir, p.run_id)
    inputs.write_json(out[0], {"destination": p.destination, "files": files})


STEPS = {
    "reference_fasta": reference_fasta,
    "sample_bam": sample_bam,
    "check_inputs": check_inputs,
    "annotation": annotation_file,
    "summary": summary,
    "report": report_page,
    "deliver": deliver,
}

with open(snakemake.log[0], "w") as log:
    try:
        STEPS[snakemake.rule]()
    except LocalgeneError as exc:
        log.write(f"error: {exc}\n")
        sys.exit(1)
