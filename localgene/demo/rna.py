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

import gzip
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from localgene.demo.cnvkit import _locked, _write_json_atomic
from localgene.demo.fingerprint import code_fingerprint

log = logging.getLogger(__name__)

#: Bump when the output for a given seed changes (the manifest also records the fingerprint of the generator's code).
GENERATOR_VERSION = "1"
DEFAULT_SEED = 7
DEFAULT_LIBRARY_TYPE = "fr-firststrand"
LIBRARY_TYPES = ("fr-unstranded", "fr-firststrand", "fr-secondstrand")

CHROMOSOMES = (("chr1", 400_000), ("chr2", 300_000), ("chr3", 200_000))
N_GENES = 150
N_RRNA = 2
N_DE = 30
DE_LOG2FC = (1.0, 1.5, 2.0, 2.5)
#: DE genes are drawn among genes whose baseline mean is at least this many fragments.
DE_MIN_BASELINE = 150.0
BASELINE_MEDIAN = 300.0
DISPERSION = 0.03
RRNA_FRACTION = 0.03
SIZE_FACTORS = {"C1": 1.0, "C2": 0.85, "C3": 1.15, "T1": 0.95, "T2": 1.1, "T3": 0.9}
GROUPS = {"control": ("C1", "C2", "C3"), "treated": ("T1", "T2", "T3")}
READ_LENGTH = 100
FRAGMENT_MEAN = 230
FRAGMENT_SD = 50
SHORT_FRACTION = 0.08
SHORT_RANGE = (45, 95)
ERROR_RATE = 0.003
#: The TruSeq adapters; the job trims with their common start, :data:`ADAPTER`.
ADAPTER_R1 = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCAC"
ADAPTER_R2 = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGTAGATCTCGGTGGTCGCCGTATCATT"
ADAPTER = "AGATCGGAAGAGC"

GENOME = "genome.fa"
GTF = "genes.gtf"
RRNA_BED = "rrna.bed"
TRUTH = "truth.json"
JOB = "job.json"
MANIFEST = "manifest.json"

_CODES = np.frombuffer(b"ACGT", dtype=np.uint8)
_COMPLEMENT = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTN", b"TGCAN"):
    _COMPLEMENT[_a] = _b


@dataclass
class Gene:
    gene_id: str
    gene_name: str
    transcript_id: str
    chrom: str
    strand: str
    exons: list[tuple[int, int]]  # 0-based, end-exclusive, ascending
    biotype: str
    baseline: float = 0.0
    log2fc: float = 0.0
    dispersion: float = DISPERSION

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]

    @property
    def de(self) -> str | None:
        return None if self.log2fc == 0 else ("up" if self.log2fc > 0 else "down")


def samples() -> list[str]:
    return [s for members in GROUPS.values() for s in members]


def fastq_names(sample: str) -> tuple[str, str]:
    return f"{sample}_R1.fastq.gz", f"{sample}_R2.fastq.gz"


def _rng(seed: int, *component: int) -> np.random.Generator:
    return np.random.default_rng([seed, *component])


def _make_genome(seed: int) -> dict[str, np.ndarray]:
    rng = _rng(seed, 1)
    genome = {}
    for chrom, length in CHROMOSOMES:
        gc = 0.42
        probs = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
        genome[chrom] = _CODES[rng.choice(4, size=length, p=probs)]
    return genome


def _make_genes(seed: int, genome: dict[str, np.ndarray]) -> list[Gene]:
    """Lay genes along the chromosomes with gaps, plant GT..AG introns, draw expression."""
    rng = _rng(seed, 2)
    total = sum(length for _, length in CHROMOSOMES)
    per_chrom = {c: round((N_GENES + N_RRNA) * length / total) for c, length in CHROMOSOMES}
    per_chrom[CHROMOSOMES[0][0]] += N_GENES + N_RRNA - sum(per_chrom.values())
    rrna_slots = {(CHROMOSOMES[0][0], 5), (CHROMOSOMES[1][0], 10)}
    genes: list[Gene] = []
    n_coding = n_rrna = 0
    for chrom, length in CHROMOSOMES:
        pos = 2_000
        for slot in range(per_chrom[chrom]):
            rrna = (chrom, slot) in rrna_slots and n_rrna < N_RRNA
            strand = "+" if rng.random() < 0.5 else "-"
            if rrna:
                exons = [(pos, pos + int(rng.integers(1500, 1900)))]
            else:
                exons = []
                start = pos
                for k in range(int(rng.integers(2, 7))):
                    exon_len = int(rng.integers(90, 420))
                    exons.append((start, start + exon_len))
                    start += exon_len + int(rng.integers(150, 1500))
            end = exons[-1][1]
            if end + 1_000 > length:
                break
            seq = genome[chrom]
            for (_, e1), (s2, _) in zip(exons, exons[1:]):  # intron [e1, s2)
                donor, acceptor = (b"GT", b"AG") if strand == "+" else (b"CT", b"AC")
                seq[e1 : e1 + 2] = np.frombuffer(donor, dtype=np.uint8)
                seq[s2 - 2 : s2] = np.frombuffer(acceptor, dtype=np.uint8)
            if rrna:
                n_rrna += 1
                gid, name, biotype = f"ENSLGG9{n_rrna:07d}", f"RNA45S{n_rrna}", "rRNA"
            else:
                n_coding += 1
                gid, name, biotype = f"ENSLGG{n_coding:08d}", f"LG{n_coding:03d}", "protein_coding"
            genes.append(Gene(gid, name, gid.replace("LGG", "LGT"), chrom, strand, exons, biotype))
            pos = end + int(rng.integers(1_000, 4_000))
    coding = [g for g in genes if g.biotype == "protein_coding"]
    base = np.exp(rng.normal(np.log(BASELINE_MEDIAN), 0.9, size=len(coding))).clip(20, 5000)
    disp = DISPERSION * np.exp(rng.normal(0, 0.3, size=len(coding)))
    for g, b, d in zip(coding, base, disp):
        g.baseline, g.dispersion = float(round(b, 2)), float(round(d, 4))
    eligible = [i for i, g in enumerate(coding) if g.baseline >= DE_MIN_BASELINE]
    chosen = rng.choice(eligible, size=min(N_DE, len(eligible)), replace=False)
    for k, i in enumerate(sorted(chosen)):
        sign = 1 if k % 2 == 0 else -1
        coding[i].log2fc = sign * float(rng.choice(DE_LOG2FC))
    coding_total = float(base.sum())
    rrna_genes = [g for g in genes if g.biotype == "rRNA"]
    for g in rrna_genes:
        g.baseline = round(coding_total * RRNA_FRACTION / (1 - RRNA_FRACTION) / len(rrna_genes), 2)
        g.dispersion = 0.01
    return genes


def _transcript(genome: dict[str, np.ndarray], gene: Gene) -> np.ndarray:
    seq = np.concatenate([genome[gene.chrom][s:e] for s, e in gene.exons])
    return _COMPLEMENT[seq[::-1]] if gene.strand == "-" else seq


def _group_of(sample: str) -> str:
    return next(g for g, members in GROUPS.items() if sample in members)


def _counts(seed: int, genes: list[Gene], sample: str) -> np.ndarray:
    rng = _rng(seed, 3, samples().index(sample))
    treated = _group_of(sample) == "treated"
    mu = np.array([g.baseline * (2.0 ** g.log2fc if treated else 1.0) for g in genes]) * SIZE_FACTORS[sample]
    size = 1.0 / np.array([g.dispersion for g in genes])
    return rng.negative_binomial(size, size / (size + mu))


def _reads(rng: np.random.Generator, tx: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """``n`` fragments of transcript ``tx``.

    Returns the sense and antisense reads (zeros past the fragment's end), the fragment
    lengths, each base's offset past the fragment end, the mask of bases inside the fragment,
    and the read 1 and read 2 adapter-then-poly-A tails indexed by that offset.
    """
    L = READ_LENGTH
    short = rng.random(n) < SHORT_FRACTION
    flen = np.where(
        short,
        rng.integers(SHORT_RANGE[0], SHORT_RANGE[1] + 1, size=n),
        np.rint(rng.normal(FRAGMENT_MEAN, FRAGMENT_SD, size=n)).astype(int),
    )
    flen = np.clip(flen, SHORT_RANGE[0], tx.shape[0])
    start = (rng.random(n) * (tx.shape[0] - flen + 1)).astype(int)
    j = np.arange(L)[None, :]
    inside = j < flen[:, None]
    sense_idx = np.minimum(start[:, None] + j, tx.shape[0] - 1)
    anti_idx = np.maximum(start[:, None] + flen[:, None] - 1 - j, 0)
    pad1 = np.frombuffer((ADAPTER_R1 + "A" * L).encode(), dtype=np.uint8)
    pad2 = np.frombuffer((ADAPTER_R2 + "A" * L).encode(), dtype=np.uint8)
    past = np.maximum(j - flen[:, None], 0)
    sense = np.where(inside, tx[sense_idx], 0).astype(np.uint8)
    anti = np.where(inside, _COMPLEMENT[tx[anti_idx]], 0).astype(np.uint8)
    return sense, anti, flen, past, inside, pad1, pad2


def _with_errors(rng: np.random.Generator, reads: np.ndarray) -> np.ndarray:
    hit = rng.random(reads.shape) < ERROR_RATE
    if hit.any():
        lookup = np.zeros(256, dtype=np.int64)
        lookup[_CODES] = np.arange(4)
        codes = lookup[reads[hit]]
        reads[hit] = _CODES[(codes + rng.integers(1, 4, size=codes.shape[0])) % 4]
    return reads


def _write_sample(
    outdir: Path, genome: dict[str, np.ndarray], genes: list[Gene], sample: str, seed: int, library_type: str
) -> dict[str, Any]:
    """Simulate one sample's read pairs into its two gzip FASTQ files; return its truth."""
    counts = _counts(seed, genes, sample)
    rng = _rng(seed, 4, samples().index(sample))
    r1_parts, r2_parts = [], []
    readthrough = 0
    for gene, n in zip(genes, counts):
        if n == 0:
            continue
        sense, anti, flen, past, inside, pad1, pad2 = _reads(rng, _transcript(genome, gene), int(n))
        if library_type == "fr-firststrand":
            first = np.ones(int(n), dtype=bool)  # read 1 antisense to the transcript (dUTP)
        elif library_type == "fr-secondstrand":
            first = np.zeros(int(n), dtype=bool)
        else:
            first = rng.random(int(n)) < 0.5
        r1 = np.where(first[:, None], anti, sense)
        r2 = np.where(first[:, None], sense, anti)
        r1 = np.where(inside, r1, pad1[past]).astype(np.uint8)
        r2 = np.where(inside, r2, pad2[past]).astype(np.uint8)
        readthrough += int((flen < READ_LENGTH).sum())
        r1_parts.append(r1)
        r2_parts.append(r2)
    r1 = _with_errors(rng, np.concatenate(r1_parts))
    r2 = _with_errors(rng, np.concatenate(r2_parts))
    order = rng.permutation(r1.shape[0])
    r1, r2 = r1[order], r2[order]
    qual = b"I" * READ_LENGTH
    for mate, reads in (("1", r1), ("2", r2)):
        path = outdir / fastq_names(sample)[int(mate) - 1]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with gzip.open(tmp, "wb", compresslevel=3) as out:
            lines = []
            for i, seq in enumerate(reads):
                lines.append(b"@%s.%d %s:N:0:1\n%s\n+\n%s\n" % (sample.encode(), i + 1, mate.encode(), seq.tobytes(), qual))
                if len(lines) == 20_000:
                    out.write(b"".join(lines))
                    lines = []
            out.write(b"".join(lines))
        os.replace(tmp, path)
    return {
        "group": _group_of(sample),
        "size_factor": SIZE_FACTORS[sample],
        "pairs": int(r1.shape[0]),
        "readthrough_pairs": readthrough,
        "files": list(fastq_names(sample)),
        "fragments_per_gene": {g.gene_id: int(c) for g, c in zip(genes, counts)},
    }


def _write_fasta(path: Path, genome: dict[str, np.ndarray], width: int = 60) -> None:
    with open(path, "wb") as out:
        for chrom, seq in genome.items():
            out.write(f">{chrom}\n".encode())
            raw = seq.tobytes()
            out.write(b"\n".join(raw[i : i + width] for i in range(0, len(raw), width)) + b"\n")
    offset = 0
    with open(path.with_name(path.name + ".fai"), "w") as fai:
        for chrom, seq in genome.items():
            offset += len(chrom) + 2
            n = seq.shape[0]
            fai.write(f"{chrom}\t{n}\t{offset}\t{width}\t{width + 1}\n")
            offset += n + (n + width - 1) // width


def _write_gtf(path: Path, genes: list[Gene]) -> None:
    lines = []
    for g in genes:
        attrs = f'gene_id "{g.gene_id}"; gene_type "{g.biotype}"; gene_name "{g.gene_name}";'
        tattrs = f'gene_id "{g.gene_id}"; transcript_id "{g.transcript_id}"; gene_type "{g.biotype}"; gene_name "{g.gene_name}";'
        src = "localgene"
        lines.append(f"{g.chrom}\t{src}\tgene\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\t{attrs}")
        lines.append(f"{g.chrom}\t{src}\ttranscript\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\t{tattrs}")
        ordered = g.exons if g.strand == "+" else g.exons[::-1]
        for k, (s, e) in enumerate(ordered, start=1):
            lines.append(
                f"{g.chrom}\t{src}\texon\t{s + 1}\t{e}\t.\t{g.strand}\t.\t{tattrs} exon_number {k};"
            )
    path.write_text("##description: localgene RNA demo annotation\n" + "\n".join(lines) + "\n")


def _write_bed(path: Path, genes: list[Gene]) -> None:
    rows = [f"{g.chrom}\t{g.start}\t{g.end}\t{g.gene_name}\t0\t{g.strand}" for g in genes if g.biotype == "rRNA"]
    path.write_text("\n".join(rows) + "\n")


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
