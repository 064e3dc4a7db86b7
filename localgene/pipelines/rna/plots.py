"""MA and volcano plots of one differential-expression CSV (PNG)."""

from __future__ import annotations

import csv
import math
import os
from typing import Any

SIGNIFICANT = 0.05


def _read(path: str | os.PathLike[str]) -> list[dict[str, Any]]:  # str gene names, float | None numbers
    def num(text: str) -> float | None:
        return None if text in ("", "NA") else float(text)

    with open(path) as handle:
        return [
            {"gene_name": r["gene_name"], "baseMean": num(r["baseMean"]),
             "log2FoldChange": num(r["log2FoldChange"]), "padj": num(r["padj"])}
            for r in csv.DictReader(handle)
        ]  # fmt: skip


def plot_contrast(csv_path: str | os.PathLike[str], ma_png: str, volcano_png: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in _read(csv_path) if r["baseMean"] and r["log2FoldChange"] is not None]
    sig = [r["padj"] is not None and r["padj"] < SIGNIFICANT for r in rows]
    colour = ["tab:red" if s else "0.6" for s in sig]
    n_sig = sum(sig)

    fig, ax = plt.subplots(figsize=(6, 4.5), constrained_layout=True)
    ax.scatter([math.log10(r["baseMean"]) for r in rows], [r["log2FoldChange"] for r in rows], s=8, c=colour)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("log10 mean of normalized counts (baseMean)")
    ax.set_ylabel("log2 fold change")
    ax.set_title(f"MA plot: {title} ({n_sig} genes at padj < {SIGNIFICANT})", fontsize=10)
    fig.savefig(ma_png, dpi=110)
    plt.close(fig)

    tested = [(r, s) for r, s in zip(rows, sig) if r["padj"] is not None]
    fig, ax = plt.subplots(figsize=(6, 4.5), constrained_layout=True)
    ys = [-math.log10(max(r["padj"], 1e-300)) for r, _ in tested]
    ax.scatter([r["log2FoldChange"] for r, _ in tested], ys, s=8,
               c=["tab:red" if s else "0.6" for _, s in tested])  # fmt: skip
    ax.axhline(-math.log10(SIGNIFICANT), color="k", lw=0.8, ls="--")
    top = sorted(tested, key=lambda rs: rs[0]["padj"])[:10]
    for r, _ in top:
        ax.annotate(str(r["gene_name"]), (r["log2FoldChange"], -math.log10(max(r["padj"], 1e-300))), fontsize=7)
    ax.set_xlabel("log2 fold change")
    ax.set_ylabel("-log10 padj")
    ax.set_title(f"Volcano plot: {title}", fontsize=10)
    fig.savefig(volcano_png, dpi=110)
    plt.close(fig)
