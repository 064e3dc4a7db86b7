"""The RNA_DIFF_EXPR job's own report sections: per-sample QC, then per contrast the MA and
volcano plots and the top genes by adjusted p-value.

Everything shown is read from the steps' own outputs: DESeq2's result table of each contrast
(``results/de/<contrast>.csv``) and the plots drawn from it (:mod:`localgene.pipelines.rna.plots`);
cutadapt's JSON reports, HISAT2's summaries, featureCounts' summaries and the strandedness
check (:mod:`localgene.pipelines.rna.qc`, the same rows as ``results/qc/qc.tsv``). The only judgement made
here is which gene rows to highlight: padj below :data:`localgene.pipelines.rna.plots.SIGNIFICANT`, up
(red) or down (blue) by the sign of DESeq2's log2 fold change.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Mapping

from localgene.pipelines.rna import counts as rna_counts
from localgene.pipelines.rna import qc as rna_qc
from localgene.pipelines.rna.plots import SIGNIFICANT
from localgene.report.common import Record
from localgene.report.page import Section, fragment, png_data_uri, table

#: Where the report's inputs are, relative to the job folder ({contrast}, {sample}); the report
#: rule passes the workflow's own layout (rules/rna_diff_expr/main.smk).
Paths = Mapping[str, str]
REQUIRED_PATHS = ("summary", "de_csv", "ma", "volcano", "hisat2", "cutadapt", "featurecounts_summary",
                  "rrna_summary", "qc_png", "benchmarks")

TOP_GENES = 50  # rows of each contrast's gene table

QC_COLUMNS = ["sample", "group", "read pairs in", "pairs with adapter", "pairs after trimming", "aligned %",
              "assigned to genes %", "rRNA fraction", "read 1 on gene strand", "looks like", "declared",
              "strandedness check"]


def _num(text: str) -> float | None:
    return None if text in ("", "NA", None) else float(text)


def read_de(path: Path) -> list[dict[str, Any]]:
    """DESeq2's result rows (numbers parsed, ``NA`` as None)."""
    with open(path, newline="") as handle:
        return [{**r, **{k: _num(r[k]) for k in ("baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj")}}
                for r in csv.DictReader(handle)]


def direction(row: Mapping[str, Any]) -> str:
    """``up``/``down`` for a gene significant at padj < SIGNIFICANT, "" otherwise."""
    padj, lfc = row.get("padj"), row.get("log2FoldChange")
    if padj is None or lfc is None or padj >= SIGNIFICANT:
        return ""
    return "up" if lfc > 0 else "down"


def top_genes(rows: list[dict[str, Any]], n: int = TOP_GENES) -> list[dict[str, Any]]:
    """The ``n`` tested genes with the smallest padj (then largest |log2FC|)."""
    tested = [r for r in rows if r["padj"] is not None]
    return sorted(tested, key=lambda r: (r["padj"], -abs(r["log2FoldChange"] or 0.0)))[:n]


def genes_table(rows: list[dict[str, Any]]) -> Any:
    cols = ["gene_id", "gene_name", "baseMean", "log2FoldChange", "lfcSE", "pvalue", "padj"]
    shown = top_genes(rows)
    return table(["gene id", "gene", "baseMean", "log2FC", "lfcSE", "pvalue", "padj", "direction"],
                 [[r[c] for c in cols] + [direction(r) or "–"] for r in shown],
                 row_classes=[direction(r) for r in shown], empty="no gene was tested (all padj NA)",
                 numeric=["baseMean", "log2FC", "lfcSE", "pvalue", "padj"])


def _existing(job_dir: Path, pattern: str, samples: list[str]) -> dict[str, Path]:
    paths = {s: job_dir / pattern.format(sample=s) for s in samples}
    return {s: p for s, p in paths.items() if p.is_file()}


def qc_rows(job_dir: Path, paths: Paths, summary: dict[str, Any]) -> list[list[Any]]:
    """One row per sample, from the steps' own reports (:func:`localgene.pipelines.rna.qc.qc_rows`)."""
    groups = {s: g for g, members in (summary.get("groups") or {}).items() for s in members}
    samples = list(groups)
    hisat2 = {s: rna_qc.read_hisat2_summary(p) for s, p in _existing(job_dir, paths["hisat2"], samples).items()}
    cut = {s: rna_qc.read_cutadapt_report(p) for s, p in _existing(job_dir, paths["cutadapt"], samples).items()}
    fc_path = job_dir / paths["featurecounts_summary"]
    if len(hisat2) < len(samples) or not fc_path.is_file():
        return []
    genes = rna_counts.read_summary(fc_path, samples)
    rrna_path = job_dir / paths["rrna_summary"]
    rrna = rna_counts.read_summary(rrna_path, samples) if rrna_path.is_file() else None
    strand = summary.get("strandedness") or []
    rows = rna_qc.qc_rows(groups, hisat2, genes, rrna, strand, cut or None)
    declared = {r["sample"]: r.get("declared") for r in strand}
    out = []
    for r in rows:
        ok = r["inferred_library_type"] == declared.get(r["sample"])
        out.append([r["sample"], r["group"], r["pairs_in"], r["pairs_with_adapter"], r["pairs_after_trimming"],
                    r["aligned_pct"], r["assigned_pct"], r["rrna_fraction"],
                    r["sense_fraction"], r["inferred_library_type"], declared.get(r["sample"]),
                    "as declared" if ok else "MISMATCH"])
    return out


def sections(job_dir: Path, summary: dict[str, Any], paths: Paths) -> list[Section]:
    missing = [name for name in REQUIRED_PATHS if name not in paths]
    if missing:
        raise KeyError(f"the RNA report needs the paths of: {', '.join(missing)}")
    job_dir = Path(job_dir)
    contrasts = summary.get("contrasts") or []
    rows = qc_rows(job_dir, paths, summary)
    qc_html = table(QC_COLUMNS, rows, row_classes=["" if r[-1] == "as declared" else "warn" for r in rows],
                    empty="no QC (the steps' reports are missing)", numeric=QC_COLUMNS[2:9])
    out = [Section("overview", "Overview", fragment(
        "rna_overview.html.j2", groups=summary.get("groups") or {}, reference=summary.get("reference_level"),
        contrasts=contrasts, library_type=summary.get("library_type"),
        strand=summary.get("featurecounts_strand"), hisat2_strandness=summary.get("hisat2_rna_strandness"),
        trimmed=summary.get("adapter_trimming"), index_mode=(summary.get("hisat2_index") or {}).get("mode"),
        qc=qc_html, qc_png=png_data_uri(job_dir / paths["qc_png"])))]
    for c in contrasts:
        name = c["name"]
        csv_path = job_dir / paths["de_csv"].format(contrast=name)
        de = read_de(csv_path) if csv_path.is_file() else []
        n_up = sum(1 for r in de if direction(r) == "up")
        n_down = sum(1 for r in de if direction(r) == "down")
        out.append(Section(f"contrast-{name}", f"{c['group']} vs {c['reference']}", fragment(
            "rna_contrast.html.j2", contrast=c, n_genes=len(de), n_tested=sum(1 for r in de if r["padj"] is not None),
            n_up=n_up, n_down=n_down, alpha=SIGNIFICANT, top=min(TOP_GENES, len(de)),
            ma=png_data_uri(job_dir / paths["ma"].format(contrast=name)),
            volcano=png_data_uri(job_dir / paths["volcano"].format(contrast=name)),
            genes=genes_table(de)), level=3))
    return out


def _timeline(folder: Path) -> list[dict[str, Any]]:
    """One entry per Snakemake benchmark file (``<rule>.tsv`` or ``<rule>/<wildcard>.tsv``):
    wall s; the end is the file's time (written when the step ended). The steps run in threads
    of Snakemake's process (``run:``), whose CPU and peak memory the benchmark files hold: they
    are not the step's, so the timeline leaves them out (each tool step's log ends with the peak
    memory of its own tools)."""
    entries = []
    for path in sorted(folder.rglob("*.tsv")):
        try:
            with open(path, newline="") as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            wall = float(row["s"])
        except (OSError, StopIteration, KeyError, ValueError):
            continue
        end = os.stat(path).st_mtime
        rel = path.relative_to(folder)
        step = rel.parts[0].removesuffix(".tsv")
        wildcards = {"": rel.stem} if len(rel.parts) > 1 else {}
        entries.append({"step": step, "wildcards": wildcards, "start": end - wall, "end": end, "wall_s": wall,
                        "cpu_s": None, "max_rss_mb": None})
    return sorted(entries, key=lambda e: e["start"])


def run_record(job_dir: Path, summary: dict[str, Any], paths: Paths) -> Record:
    """job.json's commands (log -> the ``$`` lines of each step's log), warnings and
    ``tool_versions``; the timeline from the steps' Snakemake benchmark files."""
    options = []
    for log, commands in (summary.get("steps") or {}).items():
        step = str(log).removeprefix("logs/rna/").removesuffix(".log")
        options += [(step if i == 0 else "", cmd) for i, cmd in enumerate(commands or ["(no command)"])]
    return Record(options=options, warnings=[str(w) for w in summary.get("warnings") or []],
                  versions=dict(summary.get("tool_versions") or {}),
                  timeline=_timeline(Path(job_dir) / paths["benchmarks"]))
