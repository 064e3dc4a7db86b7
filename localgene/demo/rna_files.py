"""The RNA demo data's files: each sample's FASTQ pair (adapters, errors), the genome FASTA, the
GTF and the rRNA BED."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np

from localgene.demo.rna_design import (
    READ_LENGTH,
    SIZE_FACTORS,
    Gene,
    _counts,
    _group_of,
    _reads,
    _rng,
    _transcript,
    _with_errors,
    fastq_names,
    samples,
)


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


