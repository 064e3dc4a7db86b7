"""A seeded generator of small RNA-seq demo and test data for the RNA_DIFF_EXPR job.

:func:`generate` writes into one folder:

* ``genome.fa`` (+ ``.fai``): a synthetic genome of three chromosomes ``chr1``..``chr3`` (about
  0.9 Mb in all).
* ``genes.gtf``: GENCODE-style ``gene`` / ``transcript`` / ``exon`` records (``gene_id``,
  ``transcript_id``, ``gene_name``, ``gene_type``) of :data:`N_GENES` protein-coding genes with
  2-6 exons each, on both strands, one transcript per gene, introns with GT..AG splice signals;
  plus :data:`N_RRNA` single-exon ``rRNA`` genes.
* ``rrna.bed``: the rRNA genes as BED6 (the body's ``bed`` for the QC's rRNA fraction).
* two groups x three samples of paired-end reads (``<sample>_R1.fastq.gz``,
  ``<sample>_R2.fastq.gz``, 2x :data:`READ_LENGTH`): group ``control`` (C1, C2, C3) and group
  ``treated`` (T1, T2, T3). Fragments are drawn from the spliced transcripts: fragment counts
  per gene follow a negative binomial (gene-wise dispersion around :data:`DISPERSION`) around a
  baseline mean times a per-sample size factor; :data:`N_DE` genes are planted as
  differentially expressed in ``treated`` versus ``control``, half up and half down, with
  log2 fold changes from :data:`DE_LOG2FC`. The rRNA genes take about :data:`RRNA_FRACTION`
  of each library. The library is stranded as ``library_type`` says (dUTP, ``fr-firststrand``,
  by default: read 1 is the reverse complement of the transcript). About
  :data:`SHORT_FRACTION` of fragments are shorter than a read, so the read runs through into
  the TruSeq adapter (read 1: :data:`ADAPTER_R1`, read 2: :data:`ADAPTER_R2`; both start with
  :data:`ADAPTER`, the sequence the job body's ``adapt`` names). Substitution errors at
  :data:`ERROR_RATE`.
* ``truth.json``: every gene (coordinates, strand, biotype, baseline mean, planted log2 fold
  change of treated versus control, ``de``: ``"up"`` / ``"down"`` / ``null``), every sample
  (group, size factor, pairs, read-through pairs), the library type and adapter.
* ``job.json``: an RNA_DIFF_EXPR job body for the data (see :func:`write_job`).
* ``manifest.json``, written last and atomically, as :mod:`localgene.demo.cnvkit` does: a later
  :func:`generate` call with the same generator, seed and library type returns at once.

Coordinates in ``truth.json`` and the BED are 0-based, end-exclusive; the GTF is 1-based
inclusive. Everything is deterministic for a seed. No external tool is needed: the reads are
simulated here; the job aligns them with HISAT2.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from localgene.demo.cnvkit import _locked, _write_json_atomic
from localgene.demo.fingerprint import code_fingerprint
from localgene.demo.rna_design import (
    ADAPTER,
    ADAPTER_R1,
    ADAPTER_R2,
    DEFAULT_LIBRARY_TYPE,
    DEFAULT_SEED,
    GENERATOR_VERSION,
    GENOME,
    GROUPS,
    GTF,
    JOB,
    LIBRARY_TYPES,
    MANIFEST,
    READ_LENGTH,
    RRNA_BED,
    TRUTH,
    _make_genes,
    _make_genome,
    fastq_names,
    samples,
)
from localgene.demo.rna_files import _write_bed, _write_fasta, _write_gtf, _write_sample

log = logging.getLogger(__name__)



def write_job(outdir: str | os.PathLike[str], *, filename: str = JOB, **fields: Any) -> Path:
    """Write an RNA_DIFF_EXPR job body (gene API section 3) for the data in ``outdir``.

    Paths are absolute local paths into ``outdir``; results go to ``outdir/output``. The
    library type is the one the data was made with (from ``truth.json``); ``fields`` replaces
    or adds any body field (e.g. ``library_type``, ``adapt``). Returns the path written.
    """
    outdir = Path(outdir).resolve()
    truth = json.loads((outdir / TRUTH).read_text())
    body: dict[str, Any] = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {
                "group_name": group,
                "group_inputs": [
                    {"sample_name": s, "files": [str(outdir / f) for f in fastq_names(s)]} for s in members
                ],
            }
            for group, members in GROUPS.items()
        ],
        "output": str(outdir / "output"),
        "ref": str(outdir / GENOME),
        "gtf": str(outdir / GTF),
        "adapt": ADAPTER,
        "is_export_qc": True,
        "bed": str(outdir / RRNA_BED),
        "library_type": truth["library_type"],
    }
    body.update(fields)
    path = outdir / filename
    _write_json_atomic(path, body)
    return path


def _source_hash() -> str:
    return code_fingerprint(__name__)


def manifest_ok(outdir: str | os.PathLike[str], seed: int = DEFAULT_SEED, library_type: str = DEFAULT_LIBRARY_TYPE) -> bool:
    """True if ``outdir`` holds a complete data set of this generator, ``seed`` and library type."""
    try:
        manifest = json.loads((Path(outdir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if (
        manifest.get("generator_version") != GENERATOR_VERSION
        or manifest.get("generator_source") != _source_hash()
        or manifest.get("seed") != seed
        or manifest.get("library_type") != library_type
    ):
        return False
    for name, size in manifest.get("files", {}).items():
        file = Path(outdir) / name
        if name == JOB:
            continue
        if not file.is_file() or file.stat().st_size != size:
            return False
    return True


def generate(
    outdir: str | os.PathLike[str],
    seed: int = DEFAULT_SEED,
    library_type: str = DEFAULT_LIBRARY_TYPE,
    force: bool = False,
) -> Path:
    """Write the complete RNA demo data set into ``outdir``; return the path of its manifest.

    A folder that already holds a complete data set of this generator, ``seed`` and
    ``library_type`` is reused at once unless ``force``. Concurrent calls on one folder wait
    for each other.
    """
    if library_type not in LIBRARY_TYPES:
        raise ValueError(f"library_type must be one of {', '.join(LIBRARY_TYPES)}, not {library_type!r}")
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    with _locked(outdir):
        if not force and manifest_ok(outdir, seed, library_type):
            log.info("RNA demo data in %s is complete (seed %d); reusing it", outdir, seed)
            if not (outdir / JOB).exists():
                write_job(outdir)
            return outdir / MANIFEST
        (outdir / MANIFEST).unlink(missing_ok=True)
        began = time.monotonic()
        genome = _make_genome(seed)
        genes = _make_genes(seed, genome)
        _write_fasta(outdir / GENOME, genome)
        _write_gtf(outdir / GTF, genes)
        _write_bed(outdir / RRNA_BED, genes)
        log.info(
            "RNA demo data: genome %.2f Mb, %d genes (%d planted DE), %s library",
            sum(s.shape[0] for s in genome.values()) / 1e6,
            len(genes),
            sum(1 for g in genes if g.de),
            library_type,
        )
        sample_truth = {}
        for sample in samples():
            step = time.monotonic()
            sample_truth[sample] = _write_sample(outdir, genome, genes, sample, seed, library_type)
            log.info(
                "RNA demo data: sample %s (%s): %d read pairs in %.1f s",
                sample, sample_truth[sample]["group"], sample_truth[sample]["pairs"], time.monotonic() - step,
            )
        truth = {
            "seed": seed,
            "library_type": library_type,
            "adapter": ADAPTER,
            "adapter_r1": ADAPTER_R1,
            "adapter_r2": ADAPTER_R2,
            "read_length": READ_LENGTH,
            "reference_group": next(iter(GROUPS)),
            "groups": {g: list(m) for g, m in GROUPS.items()},
            "log2fc_is": "treated versus control",
            "samples": sample_truth,
            "genes": [
                {
                    "gene_id": g.gene_id,
                    "gene_name": g.gene_name,
                    "chrom": g.chrom,
                    "strand": g.strand,
                    "start": g.start,
                    "end": g.end,
                    "exons": [list(e) for e in g.exons],
                    "biotype": g.biotype,
                    "baseline": g.baseline,
                    "dispersion": g.dispersion,
                    "log2fc": g.log2fc,
                    "de": g.de,
                }
                for g in genes
            ],
        }
        _write_json_atomic(outdir / TRUTH, truth)
        write_job(outdir)
        files = [GENOME, GENOME + ".fai", GTF, RRNA_BED, *(f for s in samples() for f in fastq_names(s)), TRUTH, JOB]
        manifest = {
            "generator": "localgene.demo.rna",
            "generator_version": GENERATOR_VERSION,
            "generator_source": _source_hash(),
            "seed": seed,
            "library_type": library_type,
            "seconds": round(time.monotonic() - began, 1),
            "files": {name: (outdir / name).stat().st_size for name in files},
        }
        _write_json_atomic(outdir / MANIFEST, manifest)
        log.info("RNA demo data: complete in %s (%.0f s)", outdir, time.monotonic() - began)
        return outdir / MANIFEST
