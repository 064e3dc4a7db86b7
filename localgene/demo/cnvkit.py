"""A seeded generator of small, realistic CNVkit demo and test data.

:func:`generate` writes into one folder:

* ``genome.fa`` (+ ``.fai``): a synthetic genome of four autosomes ``chr1``..``chr4`` and the
  sex chromosomes ``chrX`` and ``chrY`` (about 12.6 Mb in all). GC content varies by isochore
  (blocks of 20-100 kb with a GC fraction between 0.35 and 0.60); every chromosome has
  uppercase ``N`` telomere gaps and a centromere-like ``N`` gap (CNVkit's ``access`` only counts
  uppercase ``N``), and about 5 % of the sequence is soft-masked (lowercase) copies of a few
  repeat families (CNVkit's RepeatMasker correction reads lowercase). ``chrY`` shares no
  sequence (no PAR) with ``chrX``.
* an exome-like design of 250 named genes (``GENE001``..), each with three or more exons of
  100-300 bp: ``targets.bed`` (three columns, one line per exon, no names, so annotation matters),
  ``refFlat.txt`` and ``refFlat.txt.gz`` (UCSC refFlat), ``genes.gff3`` and ``genes.gff3.gz``
  (GENCODE style gene / transcript / exon records) and ``genes.bed`` (BED4 gene spans).
* five paired-end (2x150) samples, simulated in Python and aligned with ``bwa mem``, then
  ``samtools fixmate -m | sort | markdup`` and ``index``: controls ``N1`` (female), ``N2``
  (male), ``N3`` (female), and test samples ``T1`` (female; a one-copy loss and a one-copy gain)
  and ``T2`` (male; a homozygous deletion and a high-level amplification). About 140,000
  read pairs per sample: ~80 % of fragments captured on exons (about 100x mean depth at copy
  number 2), the rest spread over the genome for CNVkit's antitarget bins. Read depth follows
  the copy number; a mild GC-dependent capture efficiency, per-exon capture efficiency,
  substitution errors, PCR duplicates (~3 %) and a few multi-mapping reads from young repeat
  copies make the data look like a real exome.
* ``truth.json``: each sample's sex and planted copy-number events, with the genes inside.
* ``job.json``: a CNVkit job body in the gene service's format (see :func:`write_job`).
* ``manifest.json``, written last and atomically: every file with its size, the generator
  version (and a hash of this module's source) and the seed. A later :func:`generate` call
  with the same generator and seed finds the data complete and returns at once; a crashed run
  has no manifest and is redone.

Coordinates in ``truth.json`` and the BED files are 0-based, end-exclusive (BED convention);
refFlat uses the same convention, GFF3 is 1-based inclusive.

Everything is deterministic for a seed, including the BAM records (``bwa mem -K`` fixes the
batch size so the output does not depend on the thread count); only the ``@PG`` header lines
(which name the output folder) differ between folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from localgene.errors import EnvironmentProblem, WorkflowFailed

log = logging.getLogger(__name__)

#: Bump when the output for a given seed changes; a data set of another version is redone.
#: (The manifest also records a hash of this module's source, so that an edit without a bump
#: cannot leave stale data looking complete.)
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


# --------------------------------------------------------------------------------------------
# Genome sequence
# --------------------------------------------------------------------------------------------


def _random_bases(rng: np.random.Generator, gc: np.ndarray) -> np.ndarray:
    """Bases (ASCII codes) with a per-position GC probability."""
    u = rng.random(gc.shape[0])
    out = np.full(gc.shape[0], ord("T"), dtype=np.uint8)
    out[u < gc / 2 + (1 - gc)] = ord("A")
    out[u < gc] = ord("C")
    out[u < gc / 2] = ord("G")
    return out


def _mutate(rng: np.random.Generator, seq: np.ndarray, rate: float) -> np.ndarray:
    seq = seq.copy()
    hit = rng.random(seq.shape[0]) < rate
    idx = np.searchsorted(_CODES, seq[hit])
    seq[hit] = _CODES[(idx + rng.integers(1, 4, idx.shape[0])) % 4]
    return seq


def _make_genome(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Return (uppercase bases of the concatenated genome, soft-mask flags)."""
    rng = _rng(design.seed, 2)
    total = sum(c.length for c in design.chroms)
    gc = np.empty(total)
    for chrom in design.chroms:
        pos = 0
        while pos < chrom.length:  # isochores
            size = int(rng.integers(20_000, 100_001))
            gc[chrom.offset + pos : chrom.offset + min(pos + size, chrom.length)] = rng.uniform(0.35, 0.60)
            pos += size
    forbidden = np.zeros(total, dtype=bool)  # where repeats may not go: gaps, exons +- 500 bp
    for chrom in design.chroms:
        for g in chrom.genes:  # exons are a little GC-richer than their surroundings
            for a, b in g.exons:
                gc[chrom.offset + a : chrom.offset + b] = np.minimum(gc[chrom.offset + a] + 0.05, 0.65)
                forbidden[chrom.offset + a - 500 : chrom.offset + b + 500] = True
    seq = _random_bases(rng, gc)
    for chrom in design.chroms:
        for a, b in chrom.gaps:
            seq[chrom.offset + a : chrom.offset + b] = _N
            forbidden[chrom.offset + a : chrom.offset + b] = True

    # Repeat families, inserted as diverged copies and soft-masked. Young (low-divergence)
    # copies make multi-mapping reads (MAPQ 0), as in a real genome.
    masked = np.zeros(total, dtype=bool)
    families = [  # (consensus length, GC, copies, (min, max) divergence, fragment of consensus)
        (300, 0.55, 520, (0.04, 0.20), False),  # SINE-like
        (310, 0.52, 260, (0.06, 0.22), False),
        (6000, 0.40, 70, (0.02, 0.25), True),  # LINE-like, inserted as fragments
        (280, 0.56, 300, (0.0, 0.005), False),  # young, nearly identical copies
        (5000, 0.42, 20, (0.0, 0.005), True),
    ]
    forbidden_cum = np.concatenate([[0], np.cumsum(forbidden)])

    def place(unit: np.ndarray) -> None:
        for _ in range(50):
            at = int(rng.integers(0, total - unit.shape[0]))
            if forbidden_cum[at + unit.shape[0]] == forbidden_cum[at]:
                seq[at : at + unit.shape[0]] = unit
                masked[at : at + unit.shape[0]] = True
                return

    for length, fam_gc, copies, (dmin, dmax), fragment in families:
        consensus = _random_bases(rng, np.full(length, fam_gc))
        for _ in range(copies):
            unit = consensus
            if fragment:
                size = int(rng.integers(500, length + 1))
                start = int(rng.integers(0, length - size + 1))
                unit = consensus[start : start + size]
            unit = _mutate(rng, unit, rng.uniform(dmin, dmax))
            if rng.random() < 0.5:
                unit = _COMPLEMENT[unit[::-1]]
            place(unit)
    for _ in range(1100):  # simple repeats (microsatellites)
        motif = _CODES[rng.integers(0, 4, int(rng.integers(1, 5)))]
        copies = int(rng.integers(30, 120)) // motif.shape[0] + 1
        place(_mutate(rng, np.tile(motif, copies), 0.03))
    return seq, masked


# --------------------------------------------------------------------------------------------
# Writing the reference files
# --------------------------------------------------------------------------------------------


def _write_fasta(path: Path, design: Design, seq: np.ndarray, masked: np.ndarray, width: int = 60) -> None:
    text = seq.copy()
    text[masked] += 32  # lowercase
    with open(path, "wb") as out:
        for chrom in design.chroms:
            out.write(f">{chrom.name}\n".encode())
            body = text[chrom.offset : chrom.offset + chrom.length]
            full = (chrom.length // width) * width
            lines = np.concatenate(
                [body[:full].reshape(-1, width), np.full((full // width, 1), 10, dtype=np.uint8)], axis=1
            )
            out.write(lines.tobytes())
            if full < chrom.length:
                out.write(body[full:].tobytes() + b"\n")


def _write_fai(path: Path, design: Design, width: int = 60) -> None:
    offset = 0
    lines = []
    for chrom in design.chroms:
        header = len(f">{chrom.name}\n")
        offset += header
        lines.append(f"{chrom.name}\t{chrom.length}\t{offset}\t{width}\t{width + 1}\n")
        offset += chrom.length + (chrom.length + width - 1) // width
    path.write_text("".join(lines))


def _nm_id(gene: Gene) -> str:
    return f"NM_{900000 + gene.index:06d}"


def _ensg(gene: Gene) -> str:
    return f"ENSG{990000000 + gene.index:011d}.1"


def _enst(gene: Gene) -> str:
    return f"ENST{990000000 + gene.index:011d}.1"


def _ense(gene: Gene, k: int) -> str:
    return f"ENSE{990000000 + gene.index * 100 + k:011d}.1"


def _cds(gene: Gene) -> tuple[int, int]:
    """A CDS from inside the first exon to inside the last (UTRs at both ends)."""
    (a0, b0), (a1, b1) = gene.exons[0], gene.exons[-1]
    return a0 + (b0 - a0) // 3, b1 - (b1 - a1) // 3


def _write_annotation(outdir: Path, design: Design) -> None:
    genes = design.genes
    targets = [f"{g.chrom}\t{a}\t{b}\n" for g in genes for a, b in g.exons]
    (outdir / "targets.bed").write_text("".join(targets))
    (outdir / "genes.bed").write_text("".join(f"{g.chrom}\t{g.start}\t{g.end}\t{g.symbol}\n" for g in genes))

    flat = []
    for g in genes:
        cds_start, cds_end = _cds(g)
        flat.append(
            "\t".join(
                [
                    g.symbol,
                    _nm_id(g),
                    g.chrom,
                    g.strand,
                    str(g.start),
                    str(g.end),
                    str(cds_start),
                    str(cds_end),
                    str(len(g.exons)),
                    "".join(f"{a}," for a, _ in g.exons),
                    "".join(f"{b}," for _, b in g.exons),
                ]
            )
            + "\n"
        )
    _write_text_and_gzip(outdir / "refFlat.txt", "".join(flat))

    gff = [
        "##gff-version 3\n",
        f"#description: {GENOME_NAME} synthetic gene set, localgene.demo.cnvkit v{GENERATOR_VERSION}\n",
    ]
    gff += [f"##sequence-region {c.name} 1 {c.length}\n" for c in design.chroms]
    for g in genes:
        gid, tid = _ensg(g), _enst(g)
        common = f"gene_id={gid};gene_type=protein_coding;gene_name={g.symbol};level=2"
        tcommon = f"{common};transcript_id={tid};transcript_type=protein_coding;transcript_name={g.symbol}-201"
        cols = f"{g.chrom}\tLOCALGENE\t{{}}\t{{}}\t{{}}\t.\t{g.strand}\t.\t"
        gff.append(cols.format("gene", g.start + 1, g.end) + f"ID={gid};{common}\n")
        gff.append(cols.format("transcript", g.start + 1, g.end) + f"ID={tid};Parent={gid};{tcommon}\n")
        numbered = list(enumerate(g.exons if g.strand == "+" else g.exons[::-1], start=1))
        for k, (a, b) in sorted(numbered, key=lambda item: item[1]):
            gff.append(
                cols.format("exon", a + 1, b)
                + f"ID=exon:{tid}:{k};Parent={tid};{tcommon};exon_number={k};exon_id={_ense(g, k)}\n"
            )
    _write_text_and_gzip(outdir / "genes.gff3", "".join(gff))


def _write_text_and_gzip(path: Path, text: str) -> None:
    path.write_text(text)
    # mtime=0: the .gz is byte-identical for a seed
    with open(path.with_name(path.name + ".gz"), "wb") as raw, gzip.GzipFile(
        filename=path.name, mode="wb", fileobj=raw, mtime=0
    ) as gz:
        gz.write(text.encode())


def write_reference(outdir: str | os.PathLike[str], seed: int = DEFAULT_SEED) -> Design:
    """Write only the genome and the gene/target files (no reads); return the design.

    Takes a few seconds; :func:`generate` calls it first.
    """
    return _write_reference(Path(outdir), seed)[0]


def _write_reference(outdir: Path, seed: int) -> tuple[Design, np.ndarray]:
    outdir.mkdir(parents=True, exist_ok=True)
    design = _make_design(seed)
    seq, masked = _make_genome(design)
    _write_fasta(outdir / "genome.fa", design, seq, masked)
    _write_fai(outdir / "genome.fa.fai", design)
    _write_annotation(outdir, design)
    return design, seq


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


class _Genome:
    """Lookups over the concatenated genome for the read simulator."""

    def __init__(self, design: Design, seq: np.ndarray):
        self.seq = seq
        self.starts = np.array([c.offset for c in design.chroms])
        self.ends = np.array([c.offset + c.length for c in design.chroms])
        self.names = [c.name for c in design.chroms]
        is_gc = (seq == ord("G")) | (seq == ord("C"))
        self.gc_cum = np.concatenate([[0], np.cumsum(is_gc, dtype=np.int32)])
        self.n_cum = np.concatenate([[0], np.cumsum(seq == _N, dtype=np.int32)])

    def valid(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Fragments inside one chromosome and free of N."""
        inside = (start >= 0) & (end <= self.seq.shape[0])
        start = np.clip(start, 0, self.seq.shape[0])
        end = np.clip(end, 0, self.seq.shape[0])
        chrom = np.searchsorted(self.ends, start, side="right")
        same = end <= self.ends[np.minimum(chrom, len(self.ends) - 1)]
        return inside & same & (self.n_cum[end] == self.n_cum[start])

    def gc(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        return (self.gc_cum[end] - self.gc_cum[start]) / np.maximum(end - start, 1)


def _copy_number_track(design: Design, sample: str) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant copy number over the concatenated genome: (breakpoints, values)."""
    sex = SAMPLES[sample].sex
    base = {"chrX": 2 if sex == "female" else 1, "chrY": 0 if sex == "female" else 1}
    points: list[int] = []
    values: list[float] = []
    for chrom in design.chroms:
        cn = base.get(chrom.name, 2)
        points.append(chrom.offset)
        values.append(cn)
        for ev in sorted((e for e in design.events[sample] if e.chrom == chrom.name), key=lambda e: e.start):
            points += [chrom.offset + ev.start, chrom.offset + ev.end]
            values += [ev.copy_number, cn]
    return np.array(points), np.array(values, dtype=float)


def _simulate_fragments(design: Design, genome: _Genome, sample: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample fragments (global start, length) for a sample: capture + off-target + duplicates."""
    index = list(SAMPLES).index(sample)
    rng = _rng(seed, 100 + index)
    library, gc_opt = SAMPLES[sample].library, SAMPLES[sample].gc_optimum
    points, values = _copy_number_track(design, sample)
    max_cn = values.max()

    # Per-exon capture efficiency (bait performance): shared by every sample, as with one kit.
    exons = np.array([(c.offset + a, c.offset + b) for c in design.chroms for g in c.genes for a, b in g.exons])
    bait = np.exp(_rng(seed, 3).normal(0, 0.25, exons.shape[0]))
    weight = (exons[:, 1] - exons[:, 0] + 2 * CAPTURE_PAD) * bait
    weight /= weight.sum()

    def accept(start: np.ndarray, length: np.ndarray) -> np.ndarray:
        end = start + length
        ok = genome.valid(start, end)
        start, end = start[ok], end[ok]
        cn = values[np.searchsorted(points, start + (end - start) // 2, side="right") - 1]
        gc = genome.gc(start, end)
        efficiency = np.exp(-0.5 * ((gc - gc_opt) / 0.17) ** 2)  # mild GC bias
        keep = rng.random(start.shape[0]) < (cn / max_cn) * efficiency
        return np.flatnonzero(ok)[keep]

    def draw(n_wanted: int, propose: Any) -> tuple[np.ndarray, np.ndarray]:
        starts, lengths, have = [], [], 0
        while have < n_wanted:
            n = int((n_wanted - have) * 2.5 * max_cn / 2) + 1000
            length = np.clip(np.round(rng.normal(FRAGMENT_MEAN, FRAGMENT_SD, n)), 180, 480).astype(np.int64)
            start = propose(n, length)
            keep = accept(start, length)
            starts.append(start[keep])
            lengths.append(length[keep])
            have += keep.shape[0]
        return np.concatenate(starts)[:n_wanted], np.concatenate(lengths)[:n_wanted]

    def on_target(n: int, length: np.ndarray) -> np.ndarray:
        which = rng.choice(exons.shape[0], size=n, p=weight)
        lo = exons[which, 0] - CAPTURE_PAD
        hi = exons[which, 1] + CAPTURE_PAD
        centre = lo + np.floor(rng.random(n) * (hi - lo)).astype(np.int64)
        return centre - length // 2

    def off_target(n: int, length: np.ndarray) -> np.ndarray:
        return rng.integers(0, genome.seq.shape[0], n)

    s_on, l_on = draw(int(ON_TARGET_PAIRS * library), on_target)
    s_off, l_off = draw(int(OFF_TARGET_PAIRS * library), off_target)
    start = np.concatenate([s_on, s_off])
    length = np.concatenate([l_on, l_off])
    dup = rng.choice(start.shape[0], size=int(start.shape[0] * DUPLICATE_FRACTION), replace=False)
    start = np.concatenate([start, start[dup]])
    length = np.concatenate([length, length[dup]])
    order = rng.permutation(start.shape[0])
    return start[order], length[order]


def _fastq_chunks(
    genome: _Genome, sample: str, start: np.ndarray, length: np.ndarray, seed: int, chunk: int = 40_000
) -> Iterator[bytes]:
    """Interleaved FASTQ (read 1, read 2 of each pair) for ``bwa mem -p``."""
    rng = _rng(seed, 200 + list(SAMPLES).index(sample))
    R = READ_LENGTH
    offsets = np.arange(R)
    error_rate = np.linspace(*ERROR_RATE, R)
    quality = np.frombuffer(
        bytes(33 + q for q in np.round(np.linspace(38, 30, R)).astype(int)), dtype=np.uint8
    )
    flip = rng.random(start.shape[0]) < 0.5  # which strand read 1 comes from
    width = len(str(start.shape[0]))
    for lo in range(0, start.shape[0], chunk):
        s, ln, fl = start[lo : lo + chunk], length[lo : lo + chunk], flip[lo : lo + chunk]
        n = s.shape[0]
        fwd = genome.seq[s[:, None] + offsets]
        rev = _COMPLEMENT[genome.seq[(s + ln - R)[:, None] + offsets]][:, ::-1]
        r1 = np.where(fl[:, None], rev, fwd)
        r2 = np.where(fl[:, None], fwd, rev)
        reads = np.stack([r1, r2], axis=1).reshape(2 * n, R)
        hit = rng.random(reads.shape) < error_rate
        idx = np.searchsorted(_CODES, reads[hit])
        reads[hit] = _CODES[(idx + rng.integers(1, 4, idx.shape[0])) % 4]
        names = "".join(f"@{sample}_{i:0{width}d}\n" * 2 for i in range(lo, lo + n)).encode()
        name_arr = np.frombuffer(names, dtype=np.uint8).reshape(2 * n, -1)
        newline = np.full((2 * n, 1), 10, dtype=np.uint8)
        plus = np.tile(np.frombuffer(b"+\n", dtype=np.uint8), (2 * n, 1))
        quals = np.tile(quality, (2 * n, 1))
        yield np.concatenate([name_arr, reads, newline, plus, quals, newline], axis=1).tobytes()


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _align(
    chunks: Iterator[bytes], sample: str, index_prefix: Path, out_bam: Path, scratch: Path, threads: int
) -> None:
    """bwa mem | samtools fixmate -m | samtools sort, then markdup and index; argv lists only."""
    logs = {step: scratch / f"{sample}.{step}.log" for step in ("bwa", "fixmate", "sort", "markdup")}
    sorted_bam = scratch / f"{sample}.sorted.bam"
    bwa_cmd = [
        "bwa", "mem", "-t", str(threads), "-p", "-K", "10000000", "-v", "1",
        "-R", f"@RG\\tID:{sample}\\tSM:{sample}", str(index_prefix), "-",
    ]  # fmt: skip
    fixmate_cmd = ["samtools", "fixmate", "-m", "-u", "-", "-"]
    sort_cmd = [
        "samtools", "sort", "-l", "1", "-m", "400M", "-T", str(scratch / f"{sample}.sorttmp"),
        "-o", str(sorted_bam), "-",
    ]  # fmt: skip
    with contextlib.ExitStack() as stack:
        errs = {k: stack.enter_context(open(v, "wb")) for k, v in logs.items()}
        bwa = subprocess.Popen(bwa_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errs["bwa"])
        fixmate = subprocess.Popen(fixmate_cmd, stdin=bwa.stdout, stdout=subprocess.PIPE, stderr=errs["fixmate"])
        sort = subprocess.Popen(sort_cmd, stdin=fixmate.stdout, stderr=errs["sort"])
        assert bwa.stdout is not None and fixmate.stdout is not None and bwa.stdin is not None
        bwa.stdout.close()  # the children hold the pipe ends now
        fixmate.stdout.close()
        try:
            for data in chunks:
                bwa.stdin.write(data)
        except BrokenPipeError:
            pass  # bwa died; reported below
        finally:
            with contextlib.suppress(BrokenPipeError):
                bwa.stdin.close()
        codes = {"bwa": bwa.wait(), "fixmate": fixmate.wait(), "sort": sort.wait()}
    for step, code in codes.items():
        if code != 0:
            raise WorkflowFailed(
                f"demo data: {step} failed for sample {sample} (exit {code}): {_tail(logs[step])}"
            )
    tmp_out = out_bam.with_name(out_bam.name + ".tmp")
    _run(["samtools", "markdup", "-@", str(max(threads - 1, 0)), "-T", str(scratch / f"{sample}.mdtmp"),
          str(sorted_bam), str(tmp_out)], logs["markdup"], f"markdup for sample {sample}")  # fmt: skip
    os.replace(tmp_out, out_bam)
    sorted_bam.unlink()
    _run(["samtools", "index", str(out_bam)], scratch / f"{sample}.index.log", f"samtools index for {sample}")


def _run(cmd: list[str], log_path: Path, what: str) -> None:
    with open(log_path, "wb") as err:
        code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=err).returncode
    if code != 0:
        raise WorkflowFailed(f"demo data: {what} failed (exit {code}): {_tail(log_path)}")


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _make_sample(
    design: Design,
    genome: _Genome,
    sample: str,
    seed: int,
    index_prefix: Path,
    outdir: Path,
    scratch: Path,
    threads: int,
) -> None:
    """Simulate, align and mark duplicates of one sample into ``outdir/<sample>.bam``."""
    began = time.monotonic()
    start, length = _simulate_fragments(design, genome, sample, seed)
    chunks = _fastq_chunks(genome, sample, start, length, seed)
    _align(chunks, sample, index_prefix, outdir / f"{sample}.bam", scratch, threads)
    events = ", ".join(f"{e.kind} CN{e.copy_number} {e.chrom}:{e.start}-{e.end}" for e in design.events[sample])
    log.info(
        "demo data: sample %s (%s%s): %d read pairs (%d duplicates) in %.1f s",
        sample,
        SAMPLES[sample].sex,
        f"; {events}" if events else "",
        start.shape[0],
        start.shape[0] - round(start.shape[0] / (1 + DUPLICATE_FRACTION)),
        time.monotonic() - began,
    )


def check_tools() -> None:
    """Raise :class:`EnvironmentProblem` unless ``bwa`` and ``samtools`` are on PATH."""
    missing = [tool for tool in ("bwa", "samtools") if shutil.which(tool) is None]
    if missing:
        raise EnvironmentProblem(
            f"the demo data generator needs {' and '.join(missing)} on PATH; install "
            f"{'them' if len(missing) > 1 else 'it'} with `apt-get install {' '.join(missing)}` "
            "(Debian/Ubuntu), `conda install -c bioconda bwa samtools`, or run `make setup`"
        )


def manifest_ok(outdir: str | os.PathLike[str], seed: int = DEFAULT_SEED) -> bool:
    """True if ``outdir`` holds a complete data set of this generator and ``seed``.

    Complete: a manifest of this generator version and source and of ``seed``, and every file
    it lists present with its listed size (``job.json`` need only exist: :func:`write_job`
    may rewrite it).
    """
    path = Path(outdir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if (
        manifest.get("generator_version") != GENERATOR_VERSION
        or manifest.get("generator_source") != _source_hash()
        or manifest.get("seed") != seed
    ):
        return False
    for name, size in manifest.get("files", {}).items():
        file = Path(outdir) / name
        if name == JOB:  # write_job() may rewrite it with other options; only needs to exist
            continue
        if not file.is_file() or file.stat().st_size != size:
            return False
    return True


def _source_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(outdir: Path) -> Iterator[None]:
    """Serialise generators working on the same folder (e.g. parallel test workers)."""
    with open(outdir / ".demodata.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def generate(
    outdir: str | os.PathLike[str], seed: int = DEFAULT_SEED, force: bool = False, threads: int = 2
) -> Path:
    """Write the complete demo data set into ``outdir``; return the path of its manifest.

    If ``outdir`` already holds a complete data set of this generator version and ``seed``
    (see :func:`manifest_ok`), return at once, unless ``force``; otherwise (re)write it all,
    the manifest last. ``threads`` is given to ``bwa mem`` and ``samtools markdup``.
    Raises :class:`EnvironmentProblem` if ``bwa`` or ``samtools`` is missing.
    Concurrent calls on one folder (e.g. parallel test workers) wait for each other.
    """
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    threads = max(1, threads)
    with _locked(outdir):
        if not force and manifest_ok(outdir, seed):
            log.info("demo data in %s is complete (seed %d); reusing it", outdir, seed)
            if not (outdir / JOB).exists():
                write_job(outdir)
            return outdir / MANIFEST
        check_tools()
        (outdir / MANIFEST).unlink(missing_ok=True)  # from here on, the folder is incomplete
        began = time.monotonic()
        design, seq = _write_reference(outdir, seed)
        genome = _Genome(design, seq)
        log.info(
            "demo data: genome %s (%.1f Mb, %d genes, %d exons) written in %.1f s",
            outdir / "genome.fa",
            genome.seq.shape[0] / 1e6,
            len(design.genes),
            sum(len(g.exons) for g in design.genes),
            time.monotonic() - began,
        )
        scratch = Path(tempfile.mkdtemp(prefix=".scratch-", dir=outdir))
        try:
            index_dir = scratch / "bwa"
            index_dir.mkdir()
            os.symlink(outdir / "genome.fa", index_dir / "genome.fa")
            step = time.monotonic()
            _run(["bwa", "index", str(index_dir / "genome.fa")], scratch / "bwa-index.log", "bwa index")
            log.info("demo data: bwa index in %.1f s", time.monotonic() - step)
            for sample in SAMPLES:  # one at a time: bwa -t 2 uses both cores well (~1.8x)
                _make_sample(design, genome, sample, seed, index_dir / "genome.fa", outdir, scratch, threads)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _write_truth(outdir, design)
        write_job(outdir)
        files = [*REFERENCE_FILES, *(f"{s}.bam{ext}" for s in SAMPLES for ext in ("", ".bai")), TRUTH, JOB]
        manifest = {
            "generator": "localgene.demo.cnvkit",
            "generator_version": GENERATOR_VERSION,
            "generator_source": _source_hash(),
            "seed": seed,
            "genome": GENOME_NAME,
            "seconds": round(time.monotonic() - began, 1),
            "files": {name: (outdir / name).stat().st_size for name in files},
        }
        _write_json_atomic(outdir / MANIFEST, manifest)
        log.info("demo data: complete in %s (%.0f s)", outdir, time.monotonic() - began)
        return outdir / MANIFEST


def _write_truth(outdir: Path, design: Design) -> None:
    truth = {
        "generator": "localgene.demo.cnvkit",
        "generator_version": GENERATOR_VERSION,
        "seed": design.seed,
        "genome": {
            "name": GENOME_NAME,
            "chromosomes": {c.name: c.length for c in design.chroms},
            "gaps": {c.name: [list(g) for g in c.gaps] for c in design.chroms},
            "genes": len(design.genes),
            "exons": sum(len(g.exons) for g in design.genes),
        },
        "coordinates": "0-based, end-exclusive (BED)",
        "controls": list(CONTROLS),
        "experimental": list(EXPERIMENTALS),
        "reads": {
            "read_length": READ_LENGTH,
            "fragment_mean": FRAGMENT_MEAN,
            "fragment_sd": FRAGMENT_SD,
            "duplicate_fraction": DUPLICATE_FRACTION,
        },
        "samples": {
            name: {
                "role": "control" if name in CONTROLS else "experimental",
                "sex": SAMPLES[name].sex,
                "bam": f"{name}.bam",
                "events": [e.as_dict() for e in design.events[name]],
            }
            for name in SAMPLES
        },
    }
    _write_json_atomic(outdir / TRUTH, truth)


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_job(
    outdir: str | os.PathLike[str], options: dict[str, str] | None = None, *, filename: str = JOB, **fields: Any
) -> Path:
    """Write a CNVkit job body (gene API section 1) for the demo data in ``outdir``.

    Paths are absolute local paths into ``outdir``; results go to ``outdir/output``.
    ``options`` replaces some of the ``*_conf`` option strings (:data:`DEFAULT_OPTIONS`);
    ``fields`` replaces or adds any other body field (e.g. ``output_dir``, ``has_annotate``).
    ``filename`` is the file written inside ``outdir``. Returns its path.
    """
    outdir = Path(outdir).resolve()
    body: dict[str, Any] = {
        "experimental_inputs": [str(outdir / f"{s}.bam") for s in EXPERIMENTALS],
        "control_inputs": [str(outdir / f"{s}.bam") for s in CONTROLS],
        "output_dir": str(outdir / "output"),
        "ref": str(outdir / "genome.fa"),
        "bed": str(outdir / "targets.bed"),
        "has_annotate": True,
        "annotation_file": str(outdir / "refFlat.txt"),
        **DEFAULT_OPTIONS,
    }
    for key, value in (options or {}).items():
        if key not in DEFAULT_OPTIONS:
            raise ValueError(f"unknown option field {key!r}; expected one of {', '.join(DEFAULT_OPTIONS)}")
        body[key] = value
    body.update(fields)
    path = outdir / filename
    _write_json_atomic(path, body)
    return path
