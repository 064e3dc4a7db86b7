"""Is the declared ``library_type`` what the reads show?

featureCounts counts the pairs once with ``-s 1`` (read 1 on the gene's strand) and once with
``-s 2`` (read 1 on the opposite strand). Of the pairs either setting assigns, the share that
``-s 1`` assigns is the *sense fraction*: about 1 for fr-secondstrand, 0 for fr-firststrand
(dUTP), 0.5 for unstranded reads. :func:`infer` names the library type the reads look like;
:func:`warnings` says where that differs from the declared one.
"""

from __future__ import annotations

from typing import Mapping

#: Sense fraction at or above which reads are fr-secondstrand (at or below 1 - this: firststrand).
STRANDED = 0.8
#: Sense fractions within this distance of 0.5 are unstranded.
UNSTRANDED = 0.15


def sense_fraction(assigned_s1: int, assigned_s2: int) -> float | None:
    both = assigned_s1 + assigned_s2
    return None if both == 0 else assigned_s1 / both


def infer(fraction: float | None) -> str:
    """``fr-secondstrand``, ``fr-firststrand``, ``fr-unstranded`` or ``undetermined``."""
    if fraction is None:
        return "undetermined"
    if fraction >= STRANDED:
        return "fr-secondstrand"
    if fraction <= 1 - STRANDED:
        return "fr-firststrand"
    if abs(fraction - 0.5) <= UNSTRANDED:
        return "fr-unstranded"
    return "undetermined"


def check(declared: str, assigned_s1: Mapping[str, int], assigned_s2: Mapping[str, int]) -> list[dict]:
    """One row per sample: pairs assigned with -s 1 and -s 2, sense fraction, inferred type."""
    rows = []
    for sample in assigned_s1:
        fraction = sense_fraction(assigned_s1[sample], assigned_s2[sample])
        rows.append({
            "sample": sample,
            "assigned_s1": assigned_s1[sample],
            "assigned_s2": assigned_s2[sample],
            "sense_fraction": None if fraction is None else round(fraction, 4),
            "inferred": infer(fraction),
            "declared": declared,
        })
    return rows


def warnings(rows: list[dict]) -> list[str]:
    """A sentence for each sample whose reads do not look like the declared library type."""
    out = []
    for row in rows:
        if row["inferred"] == row["declared"]:
            continue
        fraction = "no pairs assigned" if row["sense_fraction"] is None else (
            f"{row['sense_fraction'] * 100:.1f} % of assigned pairs have read 1 on the gene's strand"
        )
        looks = "cannot be determined" if row["inferred"] == "undetermined" else f"look {row['inferred']}"
        out.append(
            f"sample {row['sample']}: library_type is {row['declared']} but the reads {looks} "
            f"({fraction}; featureCounts -s 1 assigned {row['assigned_s1']}, -s 2 {row['assigned_s2']})"
        )
    return out
