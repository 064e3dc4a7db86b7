"""The CNVkit demo data's design: chromosomes, gaps, genes, samples and their planted events
(deterministic for a seed), and the constants every part of the generator shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Bump when the output for a given seed changes; a data set of another version is redone.
#: (The manifest also records the fingerprint of the generator's code,
#: :mod:`localgene.demo.fingerprint`, so that an edit without a bump cannot leave stale data
#: looking complete.)
GENERATOR_VERSION = "3"
DEFAULT_SEED = 1
GENOME_NAME = "localgene-demo-genome"

#: (name, length, number of genes)
CHROMOSOMES: tuple[tuple[str, int, int], ...] = (
    ("chr1", 3_200_000, 66),
    ("chr2", 2_800_000, 57),
    ("chr3", 2_400_000, 50),
    ("chr4", 2_000_000, 42),
    ("chrX", 1_600_000, 27),
    ("chrY", 600_000, 8),
)
AUTOSOMES = ("chr1", "chr2", "chr3", "chr4")

READ_LENGTH = 150
FRAGMENT_MEAN = 300
FRAGMENT_SD = 40
#: A captured fragment's centre lies within its exon extended by this many bases each side.
CAPTURE_PAD = 100
#: Read pairs per sample (before the per-sample library factor): on target and off target.
ON_TARGET_PAIRS = 108_000
OFF_TARGET_PAIRS = 28_000
DUPLICATE_FRACTION = 0.03
#: Substitution error rate rises linearly along a read from the first to the second value.
ERROR_RATE = (0.002, 0.006)

@dataclass(frozen=True)
class EventSpec:
    """Where to plant an event: on whole genes near ``frac`` along ``chrom``."""

    chrom: str
    frac: float
    min_len: int
    max_len: int
    min_exons: int
    min_genes: int
    cn: int
    kind: str  # loss / deep_loss / gain / amplification


@dataclass(frozen=True)
class SampleSpec:
    sex: str
    library: float  # library size factor (read pairs relative to the others)
    # GC fraction captured best; differs a little between samples (CNVkit's GC correction
    # removes what is shared; a larger spread shifts segment means by several hundredths)
    gc_optimum: float
    events: tuple[EventSpec, ...] = ()


SAMPLES: dict[str, SampleSpec] = {
    "N1": SampleSpec("female", 1.00, 0.470),
    "N2": SampleSpec("male", 0.93, 0.467),
    "N3": SampleSpec("female", 1.06, 0.473),
    "T1": SampleSpec(
        "female",
        1.00,
        0.468,
        (
            EventSpec("chr2", 0.25, 700_000, 1_200_000, 15, 5, 1, "loss"),
            EventSpec("chr3", 0.62, 700_000, 1_200_000, 15, 5, 3, "gain"),
        ),
    ),
    "T2": SampleSpec(
        "male",
        0.97,
        0.472,
        (
            EventSpec("chr4", 0.30, 200_000, 400_000, 10, 3, 0, "deep_loss"),
            EventSpec("chr1", 0.72, 300_000, 600_000, 15, 4, 8, "amplification"),
        ),
    ),
}
CONTROLS = ("N1", "N2", "N3")
EXPERIMENTALS = ("T1", "T2")

#: The option strings of the demo job (``write_job`` takes others).
DEFAULT_OPTIONS: dict[str, str] = {
    "target_conf": "--split",
    "antitarget_conf": "",
    "coverage_conf": "-q 10",
    "reference_conf": "",
    "fix_conf": "",
    "segment_conf": "-m cbs",
    "call_conf": "",
    "genemetrics_conf": "",
    "sex_conf": "",
}

REFERENCE_FILES = (
    "genome.fa",
    "genome.fa.fai",
    "targets.bed",
    "genes.bed",
    "refFlat.txt",
    "refFlat.txt.gz",
    "genes.gff3",
    "genes.gff3.gz",
)
MANIFEST = "manifest.json"
JOB = "job.json"
TRUTH = "truth.json"

_CODES = np.frombuffer(b"ACGT", dtype=np.uint8)
_N = ord("N")
_COMPLEMENT = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTN", b"TGCAN"):
    _COMPLEMENT[_a] = _b


# --------------------------------------------------------------------------------------------
# Design: chromosomes, gaps, genes, events
# --------------------------------------------------------------------------------------------


@dataclass
class Gene:
    symbol: str
    chrom: str
    strand: str
    exons: list[tuple[int, int]]  # sorted, 0-based end-exclusive
    index: int  # 1-based, genome order

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]


@dataclass
class Chromosome:
    name: str
    length: int
    offset: int  # in the concatenated genome
    gaps: list[tuple[int, int]]  # N runs, sorted
    arms: list[tuple[int, int]]  # sequence between gaps
    genes: list[Gene] = field(default_factory=list)


@dataclass
class Event:
    chrom: str
    start: int
    end: int
    copy_number: int
    kind: str
    genes: list[str]
    exons: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "chrom": self.chrom,
            "start": self.start,
            "end": self.end,
            "cn": self.copy_number,
            "kind": self.kind,
            "genes": self.genes,
            "n_exons": self.exons,
        }


@dataclass
class Design:
    seed: int
    chroms: list[Chromosome]
    events: dict[str, list[Event]]

    @property
    def genes(self) -> list[Gene]:
        return [g for c in self.chroms for g in c.genes]

    def chrom(self, name: str) -> Chromosome:
        for c in self.chroms:
            if c.name == name:
                return c
        raise KeyError(name)


def _rng(seed: int, *component: int) -> np.random.Generator:
    """An independent stream per component, so one part's draws do not shift another's."""
    return np.random.default_rng([seed, *component])


def _make_design(seed: int) -> Design:
    rng = _rng(seed, 1)
    chroms: list[Chromosome] = []
    offset = 0
    for name, length, _ in CHROMOSOMES:
        tel = int(rng.integers(10_000, 20_001))
        cen_len = int(rng.integers(60_000, 150_001))
        cen_start = int(length * rng.uniform(0.38, 0.55))
        gaps = [(0, tel), (cen_start, cen_start + cen_len), (length - tel, length)]
        arms = [(gaps[i][1], gaps[i + 1][0]) for i in range(len(gaps) - 1)]
        chroms.append(Chromosome(name, length, offset, gaps, arms))
        offset += length

    index = 0
    for chrom, (_, _, n_genes) in zip(chroms, CHROMOSOMES):
        arm_lengths = np.array([b - a for a, b in chrom.arms], dtype=float)
        per_arm = np.round(n_genes * arm_lengths / arm_lengths.sum()).astype(int)
        per_arm[-1] = n_genes - per_arm[:-1].sum()
        for (arm_start, arm_end), n in zip(chrom.arms, per_arm):
            # Gene bodies: 3+ exons of 100-300 bp (most short), introns 0.5-12 kb.
            bodies = []
            for _ in range(n):
                n_exons = 3 + int(rng.poisson(0.45))
                exon_len = 100 + np.minimum(rng.exponential(50, n_exons), 200).astype(int)
                intron_len = np.exp(rng.normal(np.log(2500), 0.7, n_exons - 1)).astype(int)
                intron_len = np.clip(intron_len, 500, 12_000)
                bodies.append((exon_len, intron_len))
            spans = np.array([e.sum() + i.sum() for e, i in bodies])
            margin = 15_000  # keep genes off the gap edges
            free = (arm_end - arm_start) - 2 * margin - spans.sum()
            if free < 3_000 * (n + 1):
                raise ValueError(f"too many genes for {chrom.name}")  # a design bug
            # Uneven spacing: gene-dense clusters and gene deserts.
            gaps = 2_000 + (free - 2_000 * (n + 1)) * rng.dirichlet(np.full(n + 1, 0.8))
            pos = arm_start + margin + int(gaps[0])
            for (exon_len, intron_len), gap in zip(bodies, gaps[1:]):
                exons = []
                for k, elen in enumerate(exon_len):
                    exons.append((pos, pos + int(elen)))
                    pos += int(elen) + (int(intron_len[k]) if k < len(intron_len) else 0)
                index += 1
                strand = "+" if rng.random() < 0.5 else "-"
                chrom.genes.append(Gene(f"GENE{index:03d}", chrom.name, strand, exons, index))
                pos += int(gap)

    design = Design(seed, chroms, {})
    for sample, spec in SAMPLES.items():
        design.events[sample] = [_pick_event(design.chrom(ev.chrom), ev) for ev in spec.events]
    return design


def _pick_event(chrom: Chromosome, spec: EventSpec) -> Event:
    """Place an event on whole genes near ``frac`` along the chromosome, avoiding N gaps.

    The event starts and ends in the intergenic space (at most 10 kb before its first gene and
    after its last), so every gene and exon in it is fully inside.
    """
    genes = chrom.genes
    target = spec.frac * chrom.length
    order = np.argsort([abs(g.start - target) for g in genes], kind="stable")
    for first in order:
        for last in range(first, len(genes)):
            left_gap = genes[first].start - (genes[first - 1].end if first else 0)
            right_gap = (genes[last + 1].start if last + 1 < len(genes) else chrom.length) - genes[last].end
            start = genes[first].start - min(left_gap // 2, 10_000)
            end = genes[last].end + min(right_gap // 2, 10_000)
            if any(a < end and start < b for a, b in chrom.gaps):
                break
            if end - start > spec.max_len:
                break
            inside = genes[first : last + 1]
            n_exons = sum(len(g.exons) for g in inside)
            if end - start >= spec.min_len and n_exons >= spec.min_exons and len(inside) >= spec.min_genes:
                symbols = [g.symbol for g in inside]
                return Event(chrom.name, int(start), int(end), spec.cn, spec.kind, symbols, n_exons)
    raise ValueError(f"no room for a {spec.kind} event on {chrom.name}")  # a design bug


