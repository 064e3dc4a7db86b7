"""The DNA demo data's design: a seeded two-chromosome genome, the planted germline and somatic
variants (SNVs, indels, a paralog with its PSVs) and the reads simulated from each haplotype."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from localgene.demo.design import _CODES, _COMPLEMENT, _rng
from localgene.demo.genome import _random_bases

GENERATOR_VERSION = "1"
DEFAULT_SEED = 1
CHROMOSOMES = (("chr1", 600_000), ("chr2", 400_000))
READ_LENGTH = 150
FRAGMENT_MEAN = 320
FRAGMENT_SD = 40
DUPLICATE_FRACTION = 0.03
ERROR_RATE = (0.001, 0.004)
GERMLINE_DEPTH = 30
NORMAL_DEPTH = 30
TUMOR_DEPTH = 40
TUMOR_PURITY = 0.6  # somatic variants are heterozygous in tumor cells: VAF = purity / 2
GERMLINE_SNVS, GERMLINE_INDELS = 700, 150
SOMATIC_SNVS, SOMATIC_INDELS = 90, 24
HOM_FRACTION = 0.4
MIN_SPACING = 60  # between germline variants (callers then see each one alone)
SOMATIC_SPACING = 150  # between a somatic variant and any other variant
EXCLUDED_REGION = ("chr2", 300_001, 400_000)  # 1-based, inclusive: outside the somatic intervals
N_PON, N_GERMLINE_RESOURCE, N_ORIENTATION = 5, 5, 3
ARTIFACT_FRACTION = 0.8  # of the tumor's F1R2 pairs at an orientation artifact site (the test needs >= 8 one-sided)
#: The somatic genome's segmental duplication: chr1's segment (0-based start) copied into chr2
#: (0-based start), of this length. Inside the somatic intervals, away from every planted variant.
PARALOG: dict[str, Any] = {"source": ("chr1", 200_000), "copy": ("chr2", 150_000), "length": 3_000}
#: One paralogous sequence variant (a substitution in the copy) every this many bp: longer than
#: any fragment, so a read pair holds at most one, and bwa mem gives a pair with one difference
#: between the copies mapping quality 27 (0 without one): the reads of the copy are low-MAPQ.
PARALOG_PSV_SPACING = 500
#: The alignment artifact: this far (bp) past a PSV of the copy, a tumor-only SNV at VAF ~0.3.
PARALOG_SITE_OFFSET = 30

MANIFEST = "manifest.json"
JOB = "job.json"
TRUTH = "truth.json"
GERMLINE_SAMPLE = "demo_germline"
TUMOR_SAMPLE = "demo_tumor"
NORMAL_SAMPLE = "demo_normal"


@dataclass(frozen=True)
class Variant:
    chrom: str
    pos: int  # 1-based VCF position
    ref: str
    alt: str
    haplotypes: tuple[int, ...]  # which of the two haplotypes carry it (0, 1 or both)

    @property
    def kind(self) -> str:
        return "snv" if len(self.ref) == len(self.alt) == 1 else "indel"

    @property
    def genotype(self) -> str:
        return "1/1" if len(self.haplotypes) == 2 else "0/1"

    def key(self) -> tuple[str, int, str, str]:
        return (self.chrom, self.pos, self.ref, self.alt)


# --------------------------------------------------------------------------------------------
# Genome and variants


def _make_genome(seed: int) -> dict[str, np.ndarray]:
    rng = _rng(seed, 1)
    genome = {}
    for name, length in CHROMOSOMES:
        gc = np.empty(length)
        pos = 0
        while pos < length:
            block = int(rng.integers(20_000, 60_001))
            gc[pos : pos + block] = rng.uniform(0.36, 0.56)
            pos += block
        genome[name] = _random_bases(rng, gc)
    return genome


def _pick_positions(rng, length: int, n: int, taken: np.ndarray, spacing: int, lo: int, hi: int) -> list[int]:
    """``n`` 0-based positions in [lo, hi) at least ``spacing`` from each other and ``taken``."""
    out: list[int] = []
    occupied = sorted(taken.tolist())
    while len(out) < n:
        p = int(rng.integers(lo, hi))
        i = np.searchsorted(occupied, p)
        near = [occupied[j] for j in (i - 1, i) if 0 <= j < len(occupied)]
        if all(abs(p - q) >= spacing for q in near):
            occupied.insert(int(i), p)
            out.append(p)
    return out


def _snv(rng, seq: np.ndarray, chrom: str, p: int, haps: tuple[int, ...], alt: str | None = None) -> Variant:
    ref = chr(seq[p])
    if alt is None:
        alt = "ACGT"[("ACGT".index(ref) + int(rng.integers(1, 4))) % 4]
    return Variant(chrom, p + 1, ref, alt, haps)


def _indel(rng, seq: np.ndarray, chrom: str, p: int, haps: tuple[int, ...]) -> Variant | None:
    """An insertion or deletion anchored at 0-based ``p`` that cannot be left-shifted."""
    size = int(rng.integers(1, 9))
    anchor = chr(seq[p])
    if rng.random() < 0.5:  # deletion of seq[p+1 : p+1+size]
        deleted = seq[p + 1 : p + 1 + size].tobytes().decode()
        if deleted[-1] == anchor:
            return None
        return Variant(chrom, p + 1, anchor + deleted, anchor, haps)
    inserted = _random_bases(rng, np.full(size, 0.45)).tobytes().decode()
    if inserted[-1] == anchor or inserted[0] == chr(seq[p + 1]):
        return None  # left- or right-shiftable: keep the truth unambiguous
    return Variant(chrom, p + 1, anchor, anchor + inserted, haps)


def _zygosity(rng) -> tuple[int, ...]:
    return (0, 1) if rng.random() < HOM_FRACTION else (int(rng.integers(0, 2)),)


def _plant(rng, genome, n_snv: int, n_indel: int, taken: dict[str, np.ndarray], spacing: int,
           zygosity, limits: dict[str, tuple[int, int]] | None = None) -> list[Variant]:  # fmt: skip
    total = sum(len(s) for s in genome.values())
    out: list[Variant] = []
    for chrom, seq in genome.items():
        share = len(seq) / total
        lo, hi = (limits or {}).get(chrom, (1_000, len(seq) - 1_000))
        want_snv, want_indel = round(n_snv * share), round(n_indel * share)
        positions = _pick_positions(rng, len(seq), want_snv + 3 * want_indel, taken[chrom], spacing, lo, hi)
        taken[chrom] = np.concatenate([taken[chrom], positions])
        snvs = [_snv(rng, seq, chrom, p, zygosity(rng)) for p in positions[:want_snv]]
        indels: list[Variant] = []
        for p in positions[want_snv:]:
            if len(indels) == want_indel:
                break
            v = _indel(rng, seq, chrom, p, zygosity(rng))
            if v is not None:
                indels.append(v)
        out += snvs + indels
    return sorted(out, key=lambda v: (v.chrom, v.pos))


def _plant_paralog(rng, genome: dict[str, np.ndarray]) -> tuple[list[int], Variant]:
    """Copy :data:`PARALOG`'s segment into its place on the copy's chromosome with a PSV every
    :data:`PARALOG_PSV_SPACING` bp (in place); return the copy's PSV positions (0-based) and the
    tumor-only SNV of the copy that only low-MAPQ reads support (one haplotype)."""
    (src_chrom, src), (dst_chrom, dst), length = PARALOG["source"], PARALOG["copy"], PARALOG["length"]
    copy = genome[src_chrom][src : src + length].copy()
    psvs = list(range(PARALOG_PSV_SPACING // 2, length, PARALOG_PSV_SPACING))
    for off in psvs:
        copy[off] = ord("ACGT"[("ACGT".index(chr(copy[off])) + int(rng.integers(1, 4))) % 4])
    genome[dst_chrom][dst : dst + length] = copy
    middle = psvs[len(psvs) // 2] + PARALOG_SITE_OFFSET  # far from both ends: no pair reaches unique sequence
    return [dst + off for off in psvs], _snv(rng, genome[dst_chrom], dst_chrom, dst + middle, (0,))


def _haplotype(seq: np.ndarray, variants: list[Variant]) -> np.ndarray:
    """``seq`` with ``variants`` (sorted, non-overlapping) applied."""
    parts, last = [], 0
    for v in variants:
        p = v.pos - 1
        parts.append(seq[last:p])
        parts.append(np.frombuffer(v.alt.encode(), dtype=np.uint8))
        last = p + len(v.ref)
    parts.append(seq[last:])
    return np.concatenate(parts)


def _hap_coordinate(pos0: int, variants: list[Variant]) -> int:
    """The haplotype coordinate of reference 0-based ``pos0`` (no variant covers it)."""
    shift = sum(len(v.alt) - len(v.ref) for v in variants if v.pos - 1 < pos0)
    return pos0 + shift


# --------------------------------------------------------------------------------------------
# Reads


@dataclass
class _Source:
    """One haplotype sequence (per chromosome) and the share of fragments drawn from it."""

    seqs: dict[str, np.ndarray]
    weight: float


def _simulate_reads(sources: list[_Source], depth: float, seed: int, component: int, name: str,
                    r1: Path, r2: Path, artifacts: list[tuple[str, list[int]]] | None = None) -> int:  # fmt: skip
    """Write a FASTQ pair; return the number of pairs. ``artifacts``: per chromosome, haplotype-
    independent artifact sites given as per-source haplotype coordinates (G>T on F1R2 pairs)."""
    rng = _rng(seed, component)
    R = READ_LENGTH
    offsets = np.arange(R)
    error_rate = np.linspace(*ERROR_RATE, R)
    quality = np.frombuffer(bytes(33 + q for q in np.round(np.linspace(37, 28, R)).astype(int)), dtype=np.uint8)
    genome_len = sum(len(s) for s in sources[0].seqs.values())
    n_pairs = int(depth * genome_len / (2 * R))
    weights = np.array([s.weight for s in sources])
    counter = 0
    with gzip.GzipFile(r1, "wb", compresslevel=1, mtime=0) as f1, gzip.GzipFile(r2, "wb", compresslevel=1, mtime=0) as f2:
        for chrom, _ in CHROMOSOMES:
            share = len(sources[0].seqs[chrom]) / genome_len
            n_chrom = int(n_pairs * share)
            which = rng.choice(len(sources), size=n_chrom, p=weights / weights.sum())
            for k, src in enumerate(sources):
                seq = src.seqs[chrom]
                n = int((which == k).sum())
                length = np.clip(np.round(rng.normal(FRAGMENT_MEAN, FRAGMENT_SD, n)), 200, 500).astype(np.int64)
                start = rng.integers(0, len(seq) - length)
                dup = rng.choice(n, size=int(n * DUPLICATE_FRACTION), replace=False)
                start, length = np.concatenate([start, start[dup]]), np.concatenate([length, length[dup]])
                flip = np.asarray(rng.random(start.shape[0]) < 0.5)  # True: read 1 from the reverse strand
                fwd = seq[start[:, None] + offsets]
                rev = _COMPLEMENT[seq[(start + length - R)[:, None] + offsets]][:, ::-1]
                for art_chrom, sites in artifacts or []:
                    if art_chrom != chrom:
                        continue
                    site = sites[k]
                    # F1R2 pairs (read 1 forward): the damaged strand reads T for the G, in
                    # whichever read of the pair covers the site (A on the reverse read's strand).
                    end = start + length
                    cover_f = (start <= site) & (site < start + R)
                    cover_r = (end - R <= site) & (site < end)
                    hit = (~flip) & (cover_f | cover_r) & (rng.random(start.shape[0]) < ARTIFACT_FRACTION)
                    on_f, on_r = hit & cover_f, hit & cover_r
                    fwd[on_f, site - start[on_f]] = ord("T")
                    rev[on_r, R - 1 - (site - (end[on_r] - R))] = ord("A")
                r1s = np.where(flip[:, None], rev, fwd)
                r2s = np.where(flip[:, None], fwd, rev)
                for mates in (r1s, r2s):
                    err = rng.random(mates.shape) < error_rate
                    idx = np.searchsorted(_CODES, mates[err])
                    mates[err] = _CODES[(idx + rng.integers(1, 4, idx.shape[0])) % 4]
                m = start.shape[0]
                ids = np.arange(counter, counter + m)
                counter += m
                order = rng.permutation(m)
                for out, reads in ((f1, r1s), (f2, r2s)):
                    lines = []
                    for i in order:
                        lines.append(b"@%s_%d\n%s\n+\n%s\n" % (name.encode(), ids[i], reads[i].tobytes(), quality.tobytes()))
                    out.write(b"".join(lines))
    return counter


