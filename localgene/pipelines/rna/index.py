"""Building a HISAT2 index into a destination folder.

:func:`build_hisat2_index` is a plain function of a destination folder, so that it can be the
``build`` of a shared index cache (built once per reference content, reused by later jobs).

Which index (docs/rna.md): a genome of at most :data:`FULL_INDEX_MAX_BASES` bases gets a
graph index with the GTF's splice sites and exons (``hisat2-build --ss --exon``: spliced reads
align best); a larger one a plain index, the splice sites then given to HISAT2 at alignment
(``--known-splicesite-infile``), because ``--ss/--exon`` needs ~160-200 GB for a human genome.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

#: Largest genome (bases) indexed with splice sites and exons (measured: 0.9 Mb 150 MB,
#: 3 Mb 362 MB, 15 Mb 755 MB peak RSS; about 3 GB extrapolated at this bound).
FULL_INDEX_MAX_BASES = 100_000_000
SPLICE_SITES = "splice_sites.txt"
EXONS = "exons.txt"
RECORD = "index.json"


def genome_bases(fasta: str | os.PathLike[str]) -> int:
    """Bases in a FASTA: from its ``.fai`` when there is one, else by reading it."""
    fai = Path(f"{fasta}.fai")
    if fai.is_file():
        return sum(int(line.split("\t")[1]) for line in fai.read_text().splitlines() if line.strip())
    total = 0
    with open(fasta, "rb") as handle:
        for line in handle:
            if not line.startswith(b">"):
                total += len(line.strip())
    return total


def index_mode(bases: int) -> str:
    """``"splice-sites"`` (graph index with --ss/--exon) or ``"plain"``."""
    return "splice-sites" if bases <= FULL_INDEX_MAX_BASES else "plain"


def build_mem_mb(fasta_mb: float) -> int:
    """Memory to declare for hisat2-build on a FASTA of ``fasta_mb`` MB (from the measurements)."""
    if fasta_mb * 1e6 <= FULL_INDEX_MAX_BASES:
        return int(400 + 40 * fasta_mb)
    return int(1000 + 3 * fasta_mb)  # plain index: ~8 GB for a human genome


def align_mem_mb(fasta_mb: float) -> int:
    """Memory to declare for hisat2 | samtools sort: HISAT2 holds the whole index (measured:
    0.9 Mb genome 123 MB for the step)."""
    return int(400 + 2 * fasta_mb)


def build_hisat2_index(dest: str | os.PathLike[str], fasta: str, gtf: str, threads: int, log: IO[str],
                       cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The HISAT2 index of ``fasta`` (with ``gtf``'s splice sites) made available in folder ``dest``.

    The index is the shared one of :func:`localgene.pipelines.index_builders.ensure_hisat2` (built once per
    FASTA + GTF content and HISAT2 version, reused by later jobs) kept in ``cache_dir`` (the
    job's ``index_cache``; without one, a cache inside ``dest``); its files are linked into
    ``dest``. Writes ``dest/index.json`` (the record returned: prefix, mode, splice-site file,
    bases, where the index came from).
    """
    from localgene.pipelines import index_builders, index_cache
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    bases = genome_bases(fasta)
    mode = index_mode(bases)

    def say(line: str) -> None:
        log.write(line + "\n")
        log.flush()

    # the step's command first, as in every step log; the cache says whether it ran or was reused
    say(f"$ hisat2-build -p {threads} " + ("--ss splice_sites.txt --exon exons.txt " if mode == "splice-sites" else "")
        + f"{fasta} {index_cache.PREFIX}  # through the shared index cache")

    entry = index_builders.ensure_hisat2(cache_dir or dest / "cache", fasta, gtf, say, threads=threads,
                                      splice_aware=mode == "splice-sites")
    index_cache.link_entry(entry, dest)
    ss = dest / SPLICE_SITES
    record = {
        "prefix": str((dest / index_cache.PREFIX).absolute()),
        "mode": mode,
        "bases": bases,
        "splice_sites": str(ss.absolute()),
        "known_splicesite_infile": None if mode == "splice-sites" else str(ss.absolute()),
        "cache_entry": str(entry),
    }
    (dest / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return record
