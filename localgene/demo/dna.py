"""Seeded demo and test data for the DNA_GERMLINE and DNA_SOMATIC pipelines.

:func:`generate_germline` writes into one folder:

* ``genome.fa`` (+ ``.fai``): a synthetic genome of two chromosomes (``chr1`` 600 kb, ``chr2``
  400 kb) with GC content varying by 20-60 kb isochores (:func:`localgene.demo.cnvkit._random_bases`).
* ``sample_R1.fastq.gz`` / ``sample_R2.fastq.gz``: 2x150 paired reads at about 30x from a diploid
  genome that carries the planted germline variants: SNVs and indels (1-8 bp insertions and
  deletions), each heterozygous (on one of the two haplotypes) or homozygous. Reads have
  position-dependent substitution errors and ~3 % PCR duplicates.
* ``truth.vcf.gz`` (+ ``.tbi``): the planted variants with their genotype, indels already
  left-aligned (each indel is placed where it cannot shift, so the truth is unambiguous).
* ``knownsites.vcf.gz`` (+ ``.tbi``): a dbSNP-like known-sites file: three quarters of the planted
  variants with ``rs`` IDs, plus sites that are not in the sample.
* ``truth.json``: the same variants as JSON, with which ones are known sites.
* ``job.json``: a DNA_GERMLINE body for them (absolute paths, output under ``DIR/output``).

:func:`generate_somatic` writes a tumor/normal pair over the same kind of genome (another seed
component): ``normal_R1/R2.fastq.gz`` (30x, germline variants only) and ``tumor_R1/R2.fastq.gz``
(40x: 60 % tumor cells carrying heterozygous somatic SNVs and indels, so a variant allele
fraction of ~0.3, over the same germline variants), plus three planted read-orientation
artifacts (G>T seen only on F1R2 pairs of the tumor, as oxidative damage does), one planted
alignment artifact (a tumor-only SNV inside a segmental duplication: chr1's
:data:`PARALOG` segment copied into chr2 with a paralogous difference every
:data:`PARALOG_PSV_SPACING` bp, so the reads there align with mapping quality 0-27 and the
variant is supported only by such reads), ``pon.vcf.gz``
(a panel of normals naming some somatic sites), ``germline_resource.vcf.gz`` (population allele
frequencies: the germline variants and some somatic sites), ``intervals.interval_list``
(calling regions: all but the last 100 kb of chr2, where somatic variants are planted too),
``truth.json`` (every somatic variant with the FILTER expected: ``PASS``,
``panel_of_normals``, ``germline``, or ``outside_intervals`` for one that must not be reported;
the orientation and alignment artifacts with ``orientation`` and ``alignment``, the latter with
the duplication's coordinates and PSVs) and ``job.json`` (a DNA_SOMATIC body).

Coordinates in the JSON files are 1-based (VCF). Everything is deterministic for a seed; a
complete folder (manifest of this generator version, source and seed) is reused at once.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from localgene.demo.cnvkit import _locked, _write_json_atomic
from localgene.demo.design import _CODES, _COMPLEMENT, _rng
from localgene.demo.fingerprint import code_fingerprint
from localgene.demo.genome import _random_bases

log = logging.getLogger(__name__)

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
PARALOG = {"source": ("chr1", 200_000), "copy": ("chr2", 150_000), "length": 3_000}
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
        indels = []
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
                flip = rng.random(start.shape[0]) < 0.5  # True: read 1 from the reverse strand
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
                for reads in (r1s, r2s):
                    err = rng.random(reads.shape) < error_rate
                    idx = np.searchsorted(_CODES, reads[err])
                    reads[err] = _CODES[(idx + rng.integers(1, 4, idx.shape[0])) % 4]
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


# --------------------------------------------------------------------------------------------
# Files


def _write_fasta(path: Path, genome: dict[str, np.ndarray], width: int = 60) -> None:
    with open(path, "w") as fa, open(str(path) + ".fai", "w") as fai:
        offset = 0
        for name, seq in genome.items():
            header = f">{name}\n"
            offset += len(header)
            fai.write(f"{name}\t{len(seq)}\t{offset}\t{width}\t{width + 1}\n")
            text = seq.tobytes().decode()
            body = "".join(text[i : i + width] + "\n" for i in range(0, len(text), width))
            fa.write(header + body)
            offset += len(body)


def _vcf_header(genome: dict[str, np.ndarray], infos: list[str], samples: list[str]) -> str:
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={name},length={len(seq)}>" for name, seq in genome.items()]
    lines += infos
    if samples:
        lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    cols = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"] + (["FORMAT", *samples] if samples else [])
    return "\n".join(lines + ["\t".join(cols)]) + "\n"


def _write_vcf(path: Path, header: str, rows: list[list[str]]) -> None:
    """Write ``path`` (ending .vcf.gz) bgzipped and tabix-indexed, rows sorted."""
    import pysam

    order = {name: i for i, (name, _) in enumerate(CHROMOSOMES)}
    rows = sorted(rows, key=lambda r: (order[r[0]], int(r[1])))
    plain = path.with_name(path.name[: -len(".gz")])
    plain.write_text(header + "".join("\t".join(r) + "\n" for r in rows))
    pysam.tabix_index(str(plain), preset="vcf", force=True)  # writes plain + ".gz" and ".gz.tbi"


def _known_sites(rng, genome, variants: list[Variant], fraction: float = 0.75) -> tuple[list[list[str]], dict]:
    ids = {}
    rows = []
    for i, v in enumerate(variants):
        if rng.random() < fraction:
            ids[v.key()] = f"rs{100_000 + i}"
            rows.append([v.chrom, str(v.pos), ids[v.key()], v.ref, v.alt, ".", ".", "."])
    decoys = 0
    for chrom, seq in genome.items():
        for p in rng.integers(1_000, len(seq) - 1_000, 120):
            if any(abs(v.pos - 1 - int(p)) < MIN_SPACING for v in variants if v.chrom == chrom):
                continue
            rows.append([chrom, str(int(p) + 1), f"rs{900_000 + decoys}", chr(seq[p]), "ACGT"[("ACGT".index(chr(seq[p])) + 1) % 4], ".", ".", "."])
            decoys += 1
    return rows, ids


def _source_hash() -> str:
    return code_fingerprint(__name__)


def _manifest_ok(outdir: Path, kind: str, seed: int) -> bool:
    try:
        manifest = json.loads((outdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if (manifest.get("kind"), manifest.get("generator_version"), manifest.get("generator_source"), manifest.get("seed")) != (
        kind, GENERATOR_VERSION, _source_hash(), seed):  # fmt: skip
        return False
    return all((outdir / n).is_file() and (outdir / n).stat().st_size == s for n, s in manifest["files"].items() if n != JOB)


def _finish(outdir: Path, kind: str, seed: int, files: list[str], began: float) -> Path:
    manifest = {
        "generator": "localgene.demo.dna",
        "kind": kind,
        "generator_version": GENERATOR_VERSION,
        "generator_source": _source_hash(),
        "seed": seed,
        "seconds": round(time.monotonic() - began, 1),
        "files": {name: (outdir / name).stat().st_size for name in files},
    }
    _write_json_atomic(outdir / MANIFEST, manifest)
    log.info("demo data (%s): complete in %s (%.0f s)", kind, outdir, time.monotonic() - began)
    return outdir / MANIFEST


def _variant_json(v: Variant, **extra: Any) -> dict[str, Any]:
    d = asdict(v)
    d.pop("haplotypes")
    return {**d, "kind": v.kind, "genotype": v.genotype, **extra}


def _haplotypes(genome, variants: list[Variant]) -> list[dict[str, np.ndarray]]:
    return [
        {c: _haplotype(seq, [v for v in variants if v.chrom == c and h in v.haplotypes]) for c, seq in genome.items()}
        for h in (0, 1)
    ]


# --------------------------------------------------------------------------------------------
# Public API


def generate_germline(outdir: str | os.PathLike[str], seed: int = DEFAULT_SEED, force: bool = False) -> Path:
    """Write the DNA_GERMLINE demo data set into ``outdir``; return its manifest's path."""
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    with _locked(outdir):
        if not force and _manifest_ok(outdir, "germline", seed):
            return outdir / MANIFEST
        (outdir / MANIFEST).unlink(missing_ok=True)
        began = time.monotonic()
        genome = _make_genome(seed)
        _write_fasta(outdir / "genome.fa", genome)
        rng = _rng(seed, 10)
        taken = {c: np.zeros(0, dtype=np.int64) for c in genome}
        variants = _plant(rng, genome, GERMLINE_SNVS, GERMLINE_INDELS, taken, MIN_SPACING, _zygosity)
        haps = _haplotypes(genome, variants)
        log.info("demo data (germline): %d variants planted; simulating reads", len(variants))
        pairs = _simulate_reads([_Source(h, 0.5) for h in haps], GERMLINE_DEPTH, seed, 20, GERMLINE_SAMPLE,
                                outdir / "sample_R1.fastq.gz", outdir / "sample_R2.fastq.gz")  # fmt: skip
        _write_vcf(outdir / "truth.vcf.gz", _vcf_header(genome, [], [GERMLINE_SAMPLE]),
                   [[v.chrom, str(v.pos), ".", v.ref, v.alt, ".", "PASS", ".", "GT", v.genotype] for v in variants])  # fmt: skip
        known_rows, ids = _known_sites(_rng(seed, 11), genome, variants)
        _write_vcf(outdir / "knownsites.vcf.gz", _vcf_header(genome, [], []), known_rows)
        truth = {
            "generator": "localgene.demo.dna",
            "seed": seed,
            "sample": GERMLINE_SAMPLE,
            "read_pairs": pairs,
            "depth": GERMLINE_DEPTH,
            "chromosomes": {c: len(s) for c, s in genome.items()},
            "variants": [_variant_json(v, known_id=ids.get(v.key())) for v in variants],
        }
        _write_json_atomic(outdir / TRUTH, truth)
        write_germline_job(outdir)
        files = ["genome.fa", "genome.fa.fai", "sample_R1.fastq.gz", "sample_R2.fastq.gz", "truth.vcf.gz",
                 "truth.vcf.gz.tbi", "knownsites.vcf.gz", "knownsites.vcf.gz.tbi", TRUTH, JOB]  # fmt: skip
        return _finish(outdir, "germline", seed, files, began)


def write_germline_job(outdir: str | os.PathLike[str], *, filename: str = JOB, **fields: Any) -> Path:
    """A DNA_GERMLINE body for the data in ``outdir`` (``fields`` replace or add body fields)."""
    outdir = Path(outdir).resolve()
    body: dict[str, Any] = {
        "job_type": "DNA_GERMLINE",
        "input": [str(outdir / "sample_R1.fastq.gz"), str(outdir / "sample_R2.fastq.gz")],
        "output": str(outdir / "output" / "demo_germline.vcf.gz"),
        "file_type": "FASTQ",
        "ref": str(outdir / "genome.fa"),
        "knownsites": [str(outdir / "knownsites.vcf.gz")],
        "engine": "bcftools",
        "fastq_to_sam_conf": [f"--SAMPLE_NAME {GERMLINE_SAMPLE}"],
        "is_export_bam": True,
        "bam_output": str(outdir / "output" / "demo_germline.bam"),
        "is_output_gvcf": False,
        **fields,
    }
    path = outdir / filename
    _write_json_atomic(path, body)
    return path


def generate_somatic(outdir: str | os.PathLike[str], seed: int = DEFAULT_SEED, force: bool = False) -> Path:
    """Write the DNA_SOMATIC demo data set into ``outdir``; return its manifest's path."""
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    with _locked(outdir):
        if not force and _manifest_ok(outdir, "somatic", seed):
            return outdir / MANIFEST
        (outdir / MANIFEST).unlink(missing_ok=True)
        began = time.monotonic()
        genome = _make_genome(seed + 1000)
        psvs, paralog_snv = _plant_paralog(_rng(seed, 32), genome)
        _write_fasta(outdir / "genome.fa", genome)
        rng = _rng(seed, 30)
        # Nothing else planted in or near either copy of the duplication.
        taken = {c: np.zeros(0, dtype=np.int64) for c in genome}
        for chrom, start in (PARALOG["source"], PARALOG["copy"]):
            taken[chrom] = np.arange(start - 500, start + PARALOG["length"] + 500, 50, dtype=np.int64)
        germline = _plant(rng, genome, GERMLINE_SNVS // 2, GERMLINE_INDELS // 2, taken, MIN_SPACING, _zygosity)
        somatic = _plant(rng, genome, SOMATIC_SNVS, SOMATIC_INDELS, taken, SOMATIC_SPACING,
                         lambda r: (int(r.integers(0, 2)),))  # fmt: skip
        # Orientation artifacts: G reference bases far from every variant, inside the intervals.
        artifacts: list[Variant] = []
        while len(artifacts) < N_ORIENTATION:
            p = _pick_positions(rng, 0, 1, taken["chr1"], SOMATIC_SPACING, 5_000, 595_000)[0]
            taken["chr1"] = np.append(taken["chr1"], p)
            if chr(genome["chr1"][p]) == "G":
                artifacts.append(Variant("chr1", p + 1, "G", "T", ()))
        germ_haps = _haplotypes(genome, germline)
        tumor_variants = sorted(germline + somatic + [paralog_snv], key=lambda v: (v.chrom, v.pos))
        tumor_haps = _haplotypes(genome, tumor_variants)
        log.info("demo data (somatic): %d germline, %d somatic variants; simulating reads", len(germline), len(somatic))
        n_pairs = _simulate_reads([_Source(h, 0.5) for h in germ_haps], NORMAL_DEPTH, seed, 40, NORMAL_SAMPLE,
                                  outdir / "normal_R1.fastq.gz", outdir / "normal_R2.fastq.gz")  # fmt: skip
        germ_by_hap = [[v for v in germline if h in v.haplotypes] for h in (0, 1)]
        all_by_hap = [[v for v in tumor_variants if h in v.haplotypes] for h in (0, 1)]
        sources = [_Source(germ_haps[0], (1 - TUMOR_PURITY) / 2), _Source(germ_haps[1], (1 - TUMOR_PURITY) / 2),
                   _Source(tumor_haps[0], TUMOR_PURITY / 2), _Source(tumor_haps[1], TUMOR_PURITY / 2)]  # fmt: skip
        hap_vars = [germ_by_hap[0], germ_by_hap[1], all_by_hap[0], all_by_hap[1]]
        art = [("chr1", [_hap_coordinate(a.pos - 1, [v for v in hv if v.chrom == "chr1"]) for hv in hap_vars]) for a in artifacts]
        t_pairs = _simulate_reads(sources, TUMOR_DEPTH, seed, 41, TUMOR_SAMPLE,
                                  outdir / "tumor_R1.fastq.gz", outdir / "tumor_R2.fastq.gz", art)  # fmt: skip
        # Which somatic sites the PON and the germline resource name, and which lie outside the intervals.
        chrom_x, lo_x, hi_x = EXCLUDED_REGION
        inside = [v for v in somatic if not (v.chrom == chrom_x and lo_x <= v.pos <= hi_x)]
        pick = _rng(seed, 31).permutation(len(inside))
        pon_sites = {inside[i].key() for i in pick[:N_PON]}
        resource_sites = {inside[i].key() for i in pick[N_PON : N_PON + N_GERMLINE_RESOURCE]}

        def expected(v: Variant) -> str:
            if v.chrom == chrom_x and lo_x <= v.pos <= hi_x:
                return "outside_intervals"
            if v.key() in pon_sites:
                return "panel_of_normals"
            if v.key() in resource_sites:
                return "germline"
            return "PASS"

        header = _vcf_header(genome, [], [])
        _write_vcf(outdir / "pon.vcf.gz", header, [[v.chrom, str(v.pos), ".", v.ref, v.alt, ".", ".", "."]
                                                   for v in somatic if v.key() in pon_sites])  # fmt: skip
        af_info = ['##INFO=<ID=AF,Number=A,Type=Float,Description="Population allele frequency">']
        resource_rows = [[v.chrom, str(v.pos), ".", v.ref, v.alt, ".", ".", f"AF={0.5 if v.genotype == '0/1' else 0.9}"] for v in germline]
        resource_rows += [[v.chrom, str(v.pos), ".", v.ref, v.alt, ".", ".", "AF=0.2"] for v in somatic if v.key() in resource_sites]
        _write_vcf(outdir / "germline_resource.vcf.gz", _vcf_header(genome, af_info, []), resource_rows)
        with open(outdir / "intervals.interval_list", "w") as fh:  # Picard: SAM header, 1-based inclusive
            fh.write("@HD\tVN:1.6\n" + "".join(f"@SQ\tSN:{c}\tLN:{len(s)}\n" for c, s in genome.items()))
            fh.write(f"chr1\t1\t{len(genome['chr1'])}\t+\tall\n")
            fh.write(f"chr2\t1\t{lo_x - 1}\t+\tkept\n")
        truth = {
            "generator": "localgene.demo.dna",
            "seed": seed,
            "tumor_sample": TUMOR_SAMPLE,
            "normal_sample": NORMAL_SAMPLE,
            "tumor_purity": TUMOR_PURITY,
            "expected_vaf": TUMOR_PURITY / 2,
            "read_pairs": {"tumor": t_pairs, "normal": n_pairs},
            "depth": {"tumor": TUMOR_DEPTH, "normal": NORMAL_DEPTH},
            "chromosomes": {c: len(s) for c, s in genome.items()},
            "excluded_region": list(EXCLUDED_REGION),
            "somatic": [_variant_json(v, expected_filter=expected(v)) for v in somatic],
            "germline": [_variant_json(v) for v in germline],
            "orientation_artifacts": [
                {"chrom": a.chrom, "pos": a.pos, "ref": a.ref, "alt": a.alt, "expected_filter": "orientation"}
                for a in artifacts
            ],
            "alignment_artifacts": [
                {**_variant_json(paralog_snv), "expected_filter": "alignment",
                 "paralog": {"source": [PARALOG["source"][0], PARALOG["source"][1] + 1],
                             "copy": [PARALOG["copy"][0], PARALOG["copy"][1] + 1],
                             "length": PARALOG["length"], "psvs": [p + 1 for p in psvs]}}
            ],
        }
        _write_json_atomic(outdir / TRUTH, truth)
        write_somatic_job(outdir)
        files = ["genome.fa", "genome.fa.fai", "normal_R1.fastq.gz", "normal_R2.fastq.gz", "tumor_R1.fastq.gz",
                 "tumor_R2.fastq.gz", "pon.vcf.gz", "pon.vcf.gz.tbi", "germline_resource.vcf.gz",
                 "germline_resource.vcf.gz.tbi", "intervals.interval_list", TRUTH, JOB]  # fmt: skip
        return _finish(outdir, "somatic", seed, files, began)


def write_somatic_job(outdir: str | os.PathLike[str], *, filename: str = JOB, **fields: Any) -> Path:
    """A DNA_SOMATIC body for the data in ``outdir`` (``fields`` replace or add body fields)."""
    outdir = Path(outdir).resolve()
    body: dict[str, Any] = {
        "job_type": "DNA_SOMATIC",
        "inputs": [
            {"sample_type": "tumor", "sample_inputs": [str(outdir / "tumor_R1.fastq.gz"), str(outdir / "tumor_R2.fastq.gz")]},
            {"sample_type": "normal", "sample_inputs": [str(outdir / "normal_R1.fastq.gz"), str(outdir / "normal_R2.fastq.gz")]},
        ],
        "output": str(outdir / "output" / "demo_somatic.vcf.gz"),
        "file_type": "FASTQ",
        "ref": str(outdir / "genome.fa"),
        "tumor_sample_name": TUMOR_SAMPLE,
        "normal_sample_name": NORMAL_SAMPLE,
        "intervals": [str(outdir / "intervals.interval_list")],
        "pon": str(outdir / "pon.vcf.gz"),
        "germline_resource": str(outdir / "germline_resource.vcf.gz"),
        "is_filter_by_orientationBias": True,
        "artifact_modes": ["G/T"],
        "is_filter_by_alignmentArtifacts": True,
        "mutect_is_export_bam": True,
        "mutect_bam_output": str(outdir / "output" / "demo_somatic.tumor_around_calls.bam"),
        **fields,
    }
    path = outdir / filename
    _write_json_atomic(path, body)
    return path
