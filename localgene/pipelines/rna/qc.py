"""The per-sample QC of an RNA job: a TSV and a PNG (``is_export_qc`` with a ``bed``).

One row per sample from the steps' own reports: read pairs in and with adapter (cutadapt's
JSON report; empty without ``adapt``), pairs kept after trimming, the aligned percentage
(HISAT2's summary), the percentage of pairs assigned to genes (featureCounts), the fraction of
aligned pairs in the rRNA regions of ``bed`` (featureCounts on those regions) and the
strandedness (:mod:`localgene.pipelines.rna.strandedness`).
"""

from __future__ import annotations

import csv
import json
import os
import re
from typing import Any, Mapping, Sequence

from localgene.pipelines.rna import counts as lg_counts

COLUMNS = (
    "sample", "group", "pairs_in", "pairs_with_adapter", "pairs_after_trimming", "aligned_pct",
    "assigned_pct", "rrna_fraction", "sense_fraction", "inferred_library_type",
)  # fmt: skip


def read_hisat2_summary(path: str | os.PathLike[str]) -> dict[str, float]:
    """``pairs`` and ``aligned_pct`` from HISAT2's ``--new-summary`` file."""
    text = open(path).read()
    pairs = re.search(r"Total pairs:\s*(\d+)", text)
    rate = re.search(r"Overall alignment rate:\s*([\d.]+)%", text)
    if not pairs or not rate:
        raise ValueError(f"{path}: not a HISAT2 summary")
    return {"pairs": int(pairs.group(1)), "aligned_pct": float(rate.group(1))}


def read_cutadapt_report(path: str | os.PathLike[str]) -> dict[str, int]:
    counts = json.load(open(path))["read_counts"]
    return {
        "pairs_in": counts["input"],
        "pairs_with_adapter": max(counts["read1_with_adapter"] or 0, counts["read2_with_adapter"] or 0),
        "pairs_after_trimming": counts["output"],
    }


def bed_to_saf(bed: str | os.PathLike[str], saf: str | os.PathLike[str]) -> int:
    """featureCounts' SAF (1-based) from a BED (0-based); returns the number of regions."""
    n = 0
    with open(bed) as src, open(saf, "w") as out:
        out.write("GeneID\tChr\tStart\tEnd\tStrand\n")
        for line in src:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) < 3:
                raise ValueError(f"{bed}: line {n + 1} has fewer than 3 columns")
            name = f[3] if len(f) > 3 and f[3] else f"{f[0]}:{f[1]}-{f[2]}"
            strand = f[5] if len(f) > 5 and f[5] in "+-" else "+"
            out.write(f"{name}_{n}\t{f[0]}\t{int(f[1]) + 1}\t{int(f[2])}\t{strand}\n")
            n += 1
    return n


def qc_rows(
    groups: Mapping[str, str],
    hisat2: Mapping[str, Mapping[str, float]],
    genes: lg_counts.Summary,
    rrna: lg_counts.Summary | None,
    strand_rows: Sequence[Mapping[str, Any]],
    cutadapt: Mapping[str, Mapping[str, int]] | None,
) -> list[dict[str, Any]]:
    strand = {r["sample"]: r for r in strand_rows}
    rows = []
    for sample, group in groups.items():
        trim = (cutadapt or {}).get(sample)
        total = lg_counts.total(genes, sample)
        mapped = lg_counts.mapped(genes, sample)
        rows.append({
            "sample": sample,
            "group": group,
            "pairs_in": trim["pairs_in"] if trim else int(hisat2[sample]["pairs"]),
            "pairs_with_adapter": trim["pairs_with_adapter"] if trim else "",
            "pairs_after_trimming": trim["pairs_after_trimming"] if trim else "",
            "aligned_pct": round(hisat2[sample]["aligned_pct"], 2),
            "assigned_pct": round(100 * lg_counts.assigned(genes, sample) / total, 2) if total else 0.0,
            "rrna_fraction": None if rrna is None else round(lg_counts.assigned(rrna, sample) / mapped, 4) if mapped else 0.0,
            "sense_fraction": strand[sample]["sense_fraction"],
            "inferred_library_type": strand[sample]["inferred"],
        })
    return rows


def write_tsv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row[k] is None else row[k]) for k in COLUMNS})


def plot(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], library_type: str) -> None:
    """Four panels, one bar per sample, coloured by group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = [r["sample"] for r in rows]
    groups = list(dict.fromkeys(r["group"] for r in rows))
    palette = plt.get_cmap("tab10")
    colours = [palette(groups.index(r["group"]) % 10) for r in rows]
    panels = [
        ("read pairs in", [r["pairs_in"] for r in rows], None),
        ("aligned (%)", [r["aligned_pct"] for r in rows], (0, 100)),
        ("assigned to genes (%)", [r["assigned_pct"] for r in rows], (0, 100)),
        ("rRNA (% of aligned)", [100 * r["rrna_fraction"] for r in rows], None),
        ("read 1 on gene strand (%)", [100 * (r["sense_fraction"] or 0) for r in rows], (0, 100)),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), constrained_layout=True)
    for ax, (title, values, ylim) in zip(axes, panels):
        ax.bar(samples, values, color=colours)
        ax.set_title(title, fontsize=10)
        if ylim:
            ax.set_ylim(*ylim)
        ax.tick_params(axis="x", rotation=90, labelsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette(i % 10)) for i in range(len(groups))]
    fig.legend(handles, groups, loc="outside right upper", fontsize=8)
    fig.suptitle(f"RNA QC per sample (declared library_type: {library_type})", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)
