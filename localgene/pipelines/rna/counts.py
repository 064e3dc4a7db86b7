"""featureCounts' outputs read back: the count matrix and the per-sample summary."""

from __future__ import annotations

import csv
import os
from typing import Sequence

Summary = dict[str, dict[str, int]]  # sample -> featureCounts status -> read pairs


def read_matrix(path: str | os.PathLike[str], samples: Sequence[str]) -> tuple[list[str], list[str], list[list[int]]]:
    """(gene ids, gene names, counts per gene in ``samples`` order) of a featureCounts table.

    The table's count columns are in the order the BAMs were given, which is ``samples``.
    """
    ids, names, rows = [], [], []
    with open(path) as handle:
        reader = csv.reader((line for line in handle if not line.startswith("#")), delimiter="\t")
        header = next(reader)
        name_col = header.index("gene_name") if "gene_name" in header else None
        first = len(header) - len(samples)
        for row in reader:
            ids.append(row[0])
            names.append(row[name_col] if name_col is not None and row[name_col] else row[0])
            rows.append([int(x) for x in row[first:]])
    return ids, names, rows


def write_matrix(
    path: str | os.PathLike[str], samples: Sequence[str], ids: Sequence[str], names: Sequence[str], rows
) -> None:
    """A TSV with columns gene_id, gene_name, then one per sample."""
    with open(path, "w", newline="") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow(["gene_id", "gene_name", *samples])
        for gid, name, row in zip(ids, names, rows):
            writer.writerow([gid, name, *row])


def read_summary(path: str | os.PathLike[str], samples: Sequence[str]) -> Summary:
    """featureCounts' ``.summary`` file: status -> pairs, per sample (columns in BAM order)."""
    out: Summary = {s: {} for s in samples}
    with open(path) as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader)
        if len(header) - 1 != len(samples):
            raise ValueError(f"{path}: {len(header) - 1} sample columns, expected {len(samples)}")
        for row in reader:
            for sample, value in zip(samples, row[1:]):
                out[sample][row[0]] = int(value)
    return out


def assigned(summary: Summary, sample: str) -> int:
    return summary[sample].get("Assigned", 0)


def mapped(summary: Summary, sample: str) -> int:
    """Pairs featureCounts saw aligned (every status but unmapped)."""
    return sum(n for status, n in summary[sample].items() if status != "Unassigned_Unmapped")


def total(summary: Summary, sample: str) -> int:
    return sum(summary[sample].values())


#: A sample with fewer read pairs counted over all genes cannot be normalised.
MIN_COUNTED_PAIRS = 10


def empty_samples(path: str | os.PathLike[str], minimum: int = MIN_COUNTED_PAIRS) -> list[str]:
    """Samples of a count matrix (:func:`write_matrix`) with fewer than ``minimum`` pairs counted."""
    with open(path, newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        samples = next(reader)[2:]
        totals = [0] * len(samples)
        for row in reader:
            for i, value in enumerate(row[2:]):
                totals[i] += int(value)
    return [s for s, n in zip(samples, totals) if n < minimum]
