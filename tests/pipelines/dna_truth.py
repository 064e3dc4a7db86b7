"""Comparing a workflow's VCF with the planted truth of localgene.demo.dna (test helper)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Score:
    truth: int
    called: int
    true_positives: int

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else 1.0

    @property
    def precision(self) -> float:
        return self.true_positives / self.called if self.called else 1.0

    def __str__(self) -> str:
        return f"recall {self.recall:.3f} ({self.true_positives}/{self.truth}), precision {self.precision:.3f} ({self.called} called)"


def _gt(sample) -> str:
    alleles = sample.get("GT") or ()
    return "/".join(str(a) for a in sorted(a for a in alleles if a is not None))


def read_calls(vcf: str | Path, sample: str | None = None, passing_only: bool = True) -> dict:
    """{(chrom, pos, ref, alt): {"gt", "filters", "info", "id"}} for every ALT of every record."""
    import pysam

    out = {}
    with pysam.VariantFile(str(vcf)) as vf:
        for rec in vf:
            filters = list(rec.filter.keys()) or ["PASS"]
            if passing_only and filters != ["PASS"]:
                continue
            for _i, alt in enumerate(rec.alts or ()):
                if alt in ("<*>", "<NON_REF>"):
                    continue
                gt = _gt(rec.samples[sample]) if sample else ""
                out[(rec.chrom, rec.pos, rec.ref, alt)] = {
                    "gt": gt,
                    "filters": filters,
                    "somatic": "SOMATIC" in rec.info,
                    "id": rec.id,
                }
    return out


def score(truth: list[dict], calls: dict, kind: str) -> Score:
    want = {(v["chrom"], v["pos"], v["ref"], v["alt"]) for v in truth if v["kind"] == kind}
    got = {k for k in calls if (len(k[2]) == len(k[3]) == 1) == (kind == "snv")}
    return Score(len(want), len(got), len(want & got))


def genotype_concordance(truth: list[dict], calls: dict) -> float:
    matched = [(v, calls[(v["chrom"], v["pos"], v["ref"], v["alt"])]) for v in truth
               if (v["chrom"], v["pos"], v["ref"], v["alt"]) in calls]  # fmt: skip
    if not matched:
        return 0.0
    return sum(v["genotype"] == c["gt"] for v, c in matched) / len(matched)


def load_truth(folder: str | Path) -> dict:
    return json.loads((Path(folder) / "truth.json").read_text())
