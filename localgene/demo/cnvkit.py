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
  version (and the fingerprint of the generator's code) and the seed. A later :func:`generate` call
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
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from localgene import fileio
from localgene.demo.design import (
    CONTROLS,
    DEFAULT_OPTIONS,
    DEFAULT_SEED,
    DUPLICATE_FRACTION,
    EXPERIMENTALS,
    FRAGMENT_MEAN,
    FRAGMENT_SD,
    GENERATOR_VERSION,
    GENOME_NAME,
    JOB,
    MANIFEST,
    READ_LENGTH,
    REFERENCE_FILES,
    SAMPLES,
    TRUTH,
    Design,
)
from localgene.demo.fingerprint import code_fingerprint
from localgene.demo.genome import _write_reference
from localgene.demo.reads import _align, _fastq_chunks, _Genome, _run, _simulate_fragments
from localgene.errors import EnvironmentProblem

log = logging.getLogger(__name__)


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
    return code_fingerprint(__name__)


@contextlib.contextmanager
def _locked(outdir: Path) -> Iterator[None]:
    """Serialise generators working on the same folder (e.g. parallel test workers)."""
    with fileio.locked(outdir / ".demodata.lock"):
        yield


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
    fileio.atomic_write_json(path, data)


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
