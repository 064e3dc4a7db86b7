"""The RNA_DIFF_EXPR workflow's steps, run by the rules' ``run:`` blocks (:func:`run`).

One function per rule name. Tool steps build their argument lists with localgene.pipelines.rna.plan and
run them without a shell (localgene.pipelines.rna.tools: the exact command is the log's first line); the
other steps are plain functions of localgene.pipelines.rna. A refused input or a failed tool is one
``error: ...`` line in the rule's log and a failed step (:class:`StepFailed`).

The rules call :func:`run` from ``run:`` blocks, which the workflow profile
(``profiles/default``: ``force-use-threads``) runs in threads of Snakemake's own process: no
Python process starts for a step, and localgene is imported once per run (docs/rna.md, "Speed
and memory"). So a step never changes process-wide state (working directory, environment,
signals), and pyplot, which is not thread-safe, draws under one lock.
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localgene.errors import LocalgeneError, WorkflowFailed
from localgene.pipelines.rna import counts, plots, qc, strandedness, summary, tools
from localgene.pipelines.rna import index as rna_index
from localgene.pipelines.rna import plan as rna_plan

#: The last line of a step that ran tools: their largest peak RSS (localgene.pipelines.rna.tools), the
#: step's memory figure (its ``benchmark:`` record measures all of Snakemake's process).
PEAK_RSS_LINE = "localgene: peak RSS of the step's tools: "

#: pyplot keeps global state: one step draws at a time.
_PYPLOT = threading.Lock()


class StepFailed(LocalgeneError):
    """A step refused its input or one of its tools failed; the reason is in the step's log."""


@dataclass(frozen=True)
class Step:
    """What a rule's ``run:`` block hands to its step (Snakemake's objects, as they are)."""

    rule: str
    input: Any
    output: Any
    params: Any
    threads: int
    wildcards: Any
    config: dict


def run(rule: str, input: Any, output: Any, params: Any, threads: int, wildcards: Any, log: str,
        config: dict) -> None:
    """Run rule ``rule``'s step with its log at ``log`` (opened afresh)."""
    step = Step(rule, input, output, params, threads, wildcards, config)
    with open(log, "w") as handle, tools.peak_memory() as peak_kb:
        try:
            STEPS[rule](step, handle)
        except (LocalgeneError, OSError, ValueError) as exc:
            handle.write(f"error: {exc}\n")
            raise StepFailed(f"step {rule} failed: {exc}; see {log}") from None
        if peak_kb[0]:
            handle.write(f"{PEAK_RSS_LINE}{peak_kb[0] / 1024:.0f} MB\n")


def python_step(log, what: str) -> None:
    log.write(f"$ python: {what}\n")
    log.flush()


def trim(job: Step, log) -> None:
    p, inp, out, threads = job.params, job.input, job.output, job.threads
    argv = rna_plan.cutadapt_argv(p.adapter, inp.r1, inp.r2, out.r1, out.r2, out.report, threads)
    tools.run(argv, log)


def hisat2_index(job: Step, log) -> None:
    p, inp, threads = job.params, job.input, job.threads
    rna_index.build_hisat2_index(p.dest, inp.fasta, inp.gtf, threads, log, cache_dir=p.cache or None)


def align(job: Step, log) -> None:
    p, inp, out, threads = job.params, job.input, job.output, job.threads
    record = json.loads(Path(inp.index).read_text())
    # HISAT2 and samtools sort share the step's threads (alignment dominates).
    hisat2 = rna_plan.hisat2_argv(
        record["prefix"], inp.r1, inp.r2, p.library_type, threads, out.summary, record["known_splicesite_infile"]
    )
    tools.pipe(hisat2, rna_plan.sort_argv(out.bam, 1, p.sort_mem_mb), log)
    tools.run(rna_plan.index_bam_argv(out.bam), log)


def count(job: Step, log) -> None:
    p, inp, out, threads = job.params, job.input, job.output, job.threads
    tools.run(rna_plan.featurecounts_argv(inp.gtf, list(inp.bams), out.table, p.strand, threads), log)
    ids, names, rows = counts.read_matrix(out.table, p.samples)
    counts.write_matrix(out.matrix, p.samples, ids, names, rows)
    log.write(f"count matrix: {len(ids)} genes x {len(p.samples)} samples -> {out.matrix}\n")


def strand_count(job: Step, log) -> None:
    inp, out, threads = job.input, job.output, job.threads
    strand = int(job.wildcards.strand)
    tools.run(rna_plan.featurecounts_argv(inp.gtf, list(inp.bams), out.table, strand, threads), log)


def strandedness_check(job: Step, log) -> None:
    p, inp, out = job.params, job.input, job.output
    python_step(log, f"localgene.pipelines.rna.strandedness.check({p.library_type!r}, {inp.s1}, {inp.s2})")
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


def de(job: Step, log) -> None:
    p, inp, out = job.params, job.input, job.output
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


def de_plots(job: Step, log) -> None:
    inp, out = job.input, job.output
    contrast = job.wildcards.contrast
    python_step(log, f"localgene.pipelines.rna.plots.plot_contrast({inp.table}, {out.ma}, {out.volcano})")
    with _PYPLOT:
        plots.plot_contrast(inp.table, out.ma, out.volcano, contrast.replace("_vs_", " vs "))


def rrna_count(job: Step, log) -> None:
    inp, out, threads = job.input, job.output, job.threads
    python_step(log, f"localgene.pipelines.rna.qc.bed_to_saf({inp.bed}, {out.saf})")
    n = qc.bed_to_saf(inp.bed, out.saf)
    log.write(f"{n} rRNA regions\n")
    tools.run(rna_plan.rrna_featurecounts_argv(out.saf, list(inp.bams), out.table, threads), log)


def qc_table(job: Step, log) -> None:
    p, inp, out = job.params, job.input, job.output
    python_step(log, "localgene.pipelines.rna.qc.qc_rows(...) -> " + out.tsv)
    samples = list(p.groups)
    hisat2 = {s: qc.read_hisat2_summary(path) for s, path in zip(samples, inp.hisat2)}
    trimmed = {s: qc.read_cutadapt_report(path) for s, path in zip(samples, inp.cutadapt)} if inp.cutadapt else None
    check = json.loads(Path(inp.strandedness).read_text())
    rows = qc.qc_rows(
        p.groups, hisat2, counts.read_summary(inp.genes, samples), counts.read_summary(inp.rrna, samples),
        check["rows"], trimmed,
    )
    qc.write_tsv(out.tsv, rows)
    with _PYPLOT:
        qc.plot(out.png, rows, p.library_type)


def summary_step(job: Step, log) -> None:
    p, inp, out = job.params, job.input, job.output
    python_step(log, f"localgene.pipelines.rna.summary.build_summary(...) -> {out[0]}")
    plan = rna_plan.build_plan(p.request)
    check = json.loads(Path(inp.strandedness).read_text())
    index = json.loads(Path(inp.index).read_text())
    logs = sorted(str(x) for x in Path("logs/rna").rglob("*.log") if x.name != "summary.log")
    results = {"files": [str(Path(f).relative_to("results")) for f in p.results]}
    reported = summary.reported_versions(logs, p.cutadapt_reports)
    data = summary.build_summary(plan, p.request, index, check["rows"], check["warnings"], logs, results, reported)
    Path(out[0]).write_text(json.dumps(data, indent=2) + "\n")


def report(job: Step, log) -> None:
    p, out = job.params, job.output
    python_step(log, f"localgene.report.write_report(., {out[0]})")
    from localgene import report as lg_report

    lg_report.write_report(Path.cwd(), dict(p.paths), Path(out[0]), kind="RNA_DIFF_EXPR")


def deliver(job: Step, log) -> None:
    p, out = job.params, job.output
    plan = rna_plan.build_plan(job.config)
    python_step(log, f"localgene.pipelines.rna.summary.deliver(results -> {plan.output}, run id {p.run_id})")
    done = summary.deliver(plan, "results", p.run_id, p.first_csv)
    Path(out[0]).write_text(json.dumps(done, indent=2) + "\n")


STEPS: dict[str, Callable[[Step, Any], None]] = {
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
