"""The DNA demo data's files: FASTA, VCF headers and records, and the known-sites resource."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from localgene.demo.dna_design import CHROMOSOMES, MIN_SPACING, Variant

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


