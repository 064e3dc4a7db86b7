"""The steps of the DNA workflows, run by Snakemake's script directive (one entry per rule).

The work is in localgene.pipelines.dna_steps (and .somatic); this only maps a rule's input,
output and params onto it. A refused input or a failed tool is written to the rule's log as one
``error: ...`` line (which localgene shows as the job's failure reason) and the step exits
non-zero, without a traceback.
"""

import sys
import time

from localgene import storage
from localgene.errors import LocalgeneError
from localgene.pipelines import dna_qc as dna_qc_steps
from localgene.pipelines import dna_steps as steps
from localgene.pipelines import somatic

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
p, inp, out, log = snakemake.params, snakemake.input, snakemake.output, snakemake.log[0]


def dna_reference():
    steps.build_fasta_index(p.src, p.dest, log, cache_dir=p.cache or None)


def dna_bwa_index():
    steps.build_bwa_index(inp[0], p.dest, log, cache_dir=p.cache or None)


def dna_align():
    steps.align(inp.r1, inp.r2, p.prefix, p.read_group, snakemake.threads, out[0], log)


def dna_markdup():
    steps.markdup(inp[0], out.bam, snakemake.threads, p.remove_duplicates, log)


def dna_prepare_bam():
    steps.prepare_bam(inp[0], p.expected, p.field, snakemake.threads, p.remove_duplicates, out.bam, log)


def dna_knownsites():
    steps.prepare_vcf(inp[0], p.field, out.vcf, log)


dna_resource = dna_knownsites


def dna_shards():
    steps.write_shard_beds(p.fasta, list(inp.intervals), p.shards, list(out), log)


def dna_call_germline():
    steps.call_germline(p.plan, inp.fasta, inp.bam[0], inp.bed, p.min_qual, out[0], log)


def dna_call_somatic():
    steps.call_somatic(p.plan, inp.fasta, inp.tumor[0], inp.normal[0], inp.bed, out[0], log)


def dna_concat():
    steps.concat(list(inp), out.vcf, log)


def dna_norm():
    steps.normalize(inp.fasta, inp.vcf, p.split, out.vcf, log)


def dna_annotate_ids():
    steps.annotate_ids(inp.vcf, list(inp.known), out.vcf, log)


def dna_classify():
    with open(log, "w") as fh:
        fh.write(f"# localgene.pipelines.somatic.classify {inp.vcf} -> {out.vcf} (tumor {p.tumor}, normal {p.normal}; "
                 f"pon {p.pon}, germline_resource {p.germline_resource}, orientation {p.orientation_modes}, "
                 f"alignment filter {p.alignment_filter})\n")
    counts = somatic.classify(inp.vcf, out.vcf, p.tumor, p.normal, inp.tumor[0], pon=p.pon,
                              germline_resource=p.germline_resource, orientation_modes=p.orientation_modes,
                              alignment_filter=p.alignment_filter)
    steps.write_json(out.counts, counts)
    with open(log, "a") as fh:
        fh.write(f"{counts}\n")


def dna_final_vcf():
    steps.final_vcf(inp[0], p.samples, out[0], log)


def dna_export_bam():
    if "vcf" in inp.keys():  # noqa: SIM118 (a Snakemake namedlist)
        steps.reads_around(inp.bam[0], inp.vcf, p.pad, out.bam, log)
    else:
        steps.copy_bam(inp.bam[0], out.bam, log)


def dna_qc():
    bams = dict(zip(p.roles, inp.bams))
    dna_qc_steps.variant_qc(inp.vcf, list(p.roles), p.somatic, bams, p.out_dir, log)


def dna_report():
    from pathlib import Path

    from localgene import report as lg_report

    with open(log, "w") as fh:
        fh.write(f"# localgene.report.write_report(., {out[0]})\n")
    lg_report.write_report(Path.cwd(), dict(p.paths), Path(out[0]))


def dna_summary():
    import json

    plan = dict(p.plan)
    summary = {
        "job_type": plan["job_type"],
        "caller": plan["caller"],
        "samples": [{"role": s["role"], "name": s["name"], "read_group": s.get("read_group")} for s in plan["samples"]],
        "warnings": plan["warnings"],
        "settings": {k: v for k, v in plan.items() if k not in ("job_type", "caller", "samples", "warnings")},
        "tools": {name: steps.tool_version(cmd) for name, cmd in steps.TOOL_VERSIONS.items()},
        "results": [f for f in inp if not f.endswith(".json") and not f.startswith("results/qc/")],
        # Peak RSS (MB) of each step so far (the delivery comes after), next to its declaration.
        "peak_rss_mb": steps.benchmark_peaks(p.benchmarks),
        "declared_mem_mb": dict(p.declared_mem_mb),
    }
    for extra in p.extra:
        with open(extra) as fh:
            summary["counts"] = json.load(fh)
    steps.write_json(out[0], summary)


def dna_deliver():
    with open(log, "w") as fh:
        fh.write("# deliver " + ", ".join(f"{a} -> {b}" for a, b in p.pairs) + "\n")
    began = time.monotonic()
    files = storage.deliver_files([(a, b) for a, b in p.pairs])
    steps.write_json(out[0], {"files": files, "seconds": round(time.monotonic() - began, 2)})


with open(log, "a"):
    pass
try:
    globals()[snakemake.rule]()
except LocalgeneError as exc:
    with open(log, "a") as fh:
        fh.write(f"error: {exc}\n")
    sys.exit(1)
