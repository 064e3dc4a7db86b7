"""Seeded demo and test data for the DNA_GERMLINE and DNA_SOMATIC pipelines.

:func:`generate_germline` writes into one folder:

* ``genome.fa`` (+ ``.fai``): a synthetic genome of two chromosomes (``chr1`` 600 kb, ``chr2``
  400 kb) with GC content varying by 20-60 kb isochores (:func:`localgene.demo.genome._random_bases`).
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

import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from localgene.demo.cnvkit import _locked, _write_json_atomic
from localgene.demo.design import _rng
from localgene.demo.dna_design import (
    DEFAULT_SEED,
    EXCLUDED_REGION,
    GENERATOR_VERSION,
    GERMLINE_DEPTH,
    GERMLINE_INDELS,
    GERMLINE_SAMPLE,
    GERMLINE_SNVS,
    JOB,
    MANIFEST,
    MIN_SPACING,
    N_GERMLINE_RESOURCE,
    N_ORIENTATION,
    N_PON,
    NORMAL_DEPTH,
    NORMAL_SAMPLE,
    PARALOG,
    SOMATIC_INDELS,
    SOMATIC_SNVS,
    SOMATIC_SPACING,
    TRUTH,
    TUMOR_DEPTH,
    TUMOR_PURITY,
    TUMOR_SAMPLE,
    Variant,
    _hap_coordinate,
    _haplotype,
    _make_genome,
    _pick_positions,
    _plant,
    _plant_paralog,
    _simulate_reads,
    _Source,
    _zygosity,
)
from localgene.demo.dna_files import _known_sites, _vcf_header, _write_fasta, _write_vcf
from localgene.demo.fingerprint import code_fingerprint

log = logging.getLogger(__name__)


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
