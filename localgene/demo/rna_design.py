"""The RNA demo data's design: a seeded genome with genes and rRNA loci, each sample's counts
(with planted differentially expressed genes) and the reads drawn from the transcripts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


