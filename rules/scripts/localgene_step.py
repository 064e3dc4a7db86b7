"""localgene's own (non-CNVkit) steps, run by Snakemake's script directive.

One entry per rule name: exposing inputs with their indexes, checking them, preparing the
annotation, writing the job summary and report, and delivering results. A refused input is written to the
rule's log as one ``error: …`` line (which localgene shows as the job's failure reason) and the
step exits non-zero, without a traceback.
"""

import resource
import sys
import time

from localgene import annotation, inputs, segment_check, storage, timeline
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
    found = segment_check.check_segment_inputs(p.cnrs, method=p.segment_method,
                                               drop_low_coverage=p.drop_low_coverage)
    for sample, warning in found.items():
        with open(p.segment_logs[sample], "a") as segment_log:
            segment_log.write(f"localgene: warning: {warning}\n")
        print(f"warning: {warning}")
    # where the time went: every step that ended before this one (localgene.timeline)
    inputs.write_json(out[0], {**p.summary, "warnings": [*p.summary["warnings"], *found.values()],
                               "timeline": timeline.read()})


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


def record_time(start):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    timeline.record(snakemake.rule, dict(snakemake.wildcards.items()), snakemake.log[0], start=start,
                    end=time.time(), cpu_s=usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
                    max_rss_mb=max(usage.ru_maxrss, children.ru_maxrss) / 1024, runner="process")


try:  # the step's own process started before this script did
    import psutil

    started = psutil.Process().create_time()
except (ImportError, OSError):
    started = time.time()
with open(snakemake.log[0], "w") as log:
    try:
        STEPS[snakemake.rule]()
    except LocalgeneError as exc:
        log.write(f"error: {exc}\n")
        sys.exit(1)
record_time(started)
