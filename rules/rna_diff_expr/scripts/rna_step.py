"""The RNA_DIFF_EXPR workflow's steps, run by Snakemake's script directive.

One entry per rule name. Tool steps build their argument lists with localgene.rna.plan and run
them without a shell (localgene.rna.tools: the exact command is the log's first line); the
other steps are plain functions of localgene.rna. A refused input or a failed tool is one
``error: ...`` line in the rule's log and a non-zero exit, without a traceback.
"""

import csv
import json
import sys
from pathlib import Path

from localgene.errors import LocalgeneError, WorkflowFailed
from localgene.rna import counts, plots, qc, strandedness, summary, tools
from localgene.rna import index as rna_index
from localgene.rna import plan as rna_plan

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
p, inp, out = snakemake.params, snakemake.input, snakemake.output
threads = snakemake.threads


def python_step(log, what):
    log.write(f"$ python: {what}\n")
    log.flush()


def trim(log):
    argv = rna_plan.cutadapt_argv(p.adapter, inp.r1, inp.r2, out.r1, out.r2, out.report, threads)
    tools.run(argv, log)


def hisat2_index(log):
    rna_index.build_hisat2_index(p.dest, inp.fasta, inp.gtf, threads, log, cache_dir=p.cache or None)


def align(log):
    record = json.loads(Path(inp.index).read_text())
    # HISAT2 and samtools sort share the step's threads (alignment dominates).
    hisat2 = rna_plan.hisat2_argv(
        record["prefix"], inp.r1, inp.r2, p.library_type, threads, out.summary, record["known_splicesite_infile"]
    )
    tools.pipe(hisat2, rna_plan.sort_argv(out.bam, 1, p.sort_mem_mb), log)
    tools.run(rna_plan.index_bam_argv(out.bam), log)


def count(log):
    tools.run(rna_plan.featurecounts_argv(inp.gtf, list(inp.bams), out.table, p.strand, threads), log)
    ids, names, rows = counts.read_matrix(out.table, p.samples)
    counts.write_matrix(out.matrix, p.samples, ids, names, rows)
    log.write(f"count matrix: {len(ids)} genes x {len(p.samples)} samples -> {out.matrix}\n")


def strand_count(log):
    strand = int(snakemake.wildcards.strand)
    tools.run(rna_plan.featurecounts_argv(inp.gtf, list(inp.bams), out.table, strand, threads), log)


def strandedness_check(log):
    python_step(log, f"localgene.rna.strandedness.check({p.library_type!r}, {inp.s1}, {inp.s2})")
    s1, s2 = counts.read_summary(inp.s1, p.samples), counts.read_summary(inp.s2, p.samples)
    rows = strandedness.check(
        p.library_type, {s: counts.assigned(s1, s) for s in p.samples}, {s: counts.assigned(s2, s) for s in p.samples}
    )
    warnings = strandedness.warnings(rows)
    with open(out.tsv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    Path(out.json).write_text(json.dumps({"rows": rows, "warnings": warnings}, indent=2) + "\n")
    for line in warnings:
        log.write(f"warning: {line}\n")


def de(log):
    empty = counts.empty_samples(inp.matrix)
    if empty:
        rows = json.loads(Path(inp.strandedness).read_text())["rows"]
        looks = sorted({r["inferred"] for r in rows if r["sample"] in empty})
        raise WorkflowFailed(
            f"fewer than {counts.MIN_COUNTED_PAIRS} read pairs were counted over all genes in sample(s) "
            f"{', '.join(empty)}, so DESeq2 cannot normalise them; their reads look {' / '.join(looks)} "
            f"but library_type is {rows[0]['declared']} (results/qc/strandedness.tsv)"
        )
    with open(out.coldata, "w") as handle:
        handle.write("sample\tgroup\n" + "".join(f"{s}\t{g}\n" for s, g in p.groups))
    tools.run(rna_plan.deseq2_argv(p.script, inp.matrix, out.coldata, p.reference, p.outdir), log)


def de_plots(log):
    contrast = snakemake.wildcards.contrast
    python_step(log, f"localgene.rna.plots.plot_contrast({inp.table}, {out.ma}, {out.volcano})")
    plots.plot_contrast(inp.table, out.ma, out.volcano, contrast.replace("_vs_", " vs "))


def rrna_count(log):
    python_step(log, f"localgene.rna.qc.bed_to_saf({inp.bed}, {out.saf})")
    n = qc.bed_to_saf(inp.bed, out.saf)
    log.write(f"{n} rRNA regions\n")
    tools.run(rna_plan.rrna_featurecounts_argv(out.saf, list(inp.bams), out.table, threads), log)


def qc_table(log):
    python_step(log, "localgene.rna.qc.qc_rows(...) -> " + out.tsv)
    samples = list(p.groups)
    hisat2 = {s: qc.read_hisat2_summary(path) for s, path in zip(samples, inp.hisat2)}
    trimmed = {s: qc.read_cutadapt_report(path) for s, path in zip(samples, inp.cutadapt)} if inp.cutadapt else None
    check = json.loads(Path(inp.strandedness).read_text())
    rows = qc.qc_rows(
        p.groups, hisat2, counts.read_summary(inp.genes, samples), counts.read_summary(inp.rrna, samples),
        check["rows"], trimmed,
    )
    qc.write_tsv(out.tsv, rows)
    qc.plot(out.png, rows, p.library_type)


def summary_step(log):
    python_step(log, f"localgene.rna.summary.build_summary(...) -> {out[0]}")
    plan = rna_plan.build_plan(p.request)
    check = json.loads(Path(inp.strandedness).read_text())
    index = json.loads(Path(inp.index).read_text())
    logs = sorted(str(x) for x in Path("logs/rna").rglob("*.log") if x.name != "summary.log")
    results = {"files": [str(Path(f).relative_to("results")) for f in p.results]}
    data = summary.build_summary(plan, p.request, index, check["rows"], check["warnings"], logs, results)
    Path(out[0]).write_text(json.dumps(data, indent=2) + "\n")


def report(log):
    python_step(log, f"localgene.report.write_report(., {out[0]})")
    from localgene import report as lg_report

    lg_report.write_report(Path.cwd(), dict(p.paths), Path(out[0]), kind="RNA_DIFF_EXPR")


def deliver(log):
    plan = rna_plan.build_plan(snakemake.config)
    python_step(log, f"localgene.rna.summary.deliver(results -> {plan.output}, run id {p.run_id})")
    done = summary.deliver(plan, "results", p.run_id, p.first_csv)
    Path(out[0]).write_text(json.dumps(done, indent=2) + "\n")


STEPS = {
    "trim": trim,
    "hisat2_index": hisat2_index,
    "align": align,
    "count": count,
    "strand_count": strand_count,
    "strandedness": strandedness_check,
    "de": de,
    "de_plots": de_plots,
    "rrna_count": rrna_count,
    "qc": qc_table,
    "summary": summary_step,
    "report": report,
    "deliver": deliver,
}

with open(snakemake.log[0], "w") as log:
    try:
        STEPS[snakemake.rule](log)
    except (LocalgeneError, OSError, ValueError) as exc:
        log.write(f"error: {exc}\n")
        sys.exit(1)
