"""The CNVkit demo genome's sequence (isochores, gaps, soft-masked repeats) and its reference
files: FASTA and index, targets, refFlat, GFF3, gene BED."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from localgene.demo.design import (
    _CODES,
    _COMPLEMENT,
    _N,
    DEFAULT_SEED,
    GENERATOR_VERSION,
    GENOME_NAME,
    Design,
    Gene,
    _make_design,
    _rng,
)

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


