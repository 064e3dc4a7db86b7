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

from localgene.rna import tools

#: Largest genome (bases) indexed with splice sites and exons (measured: 0.9 Mb 150 MB,
#: 3 Mb 362 MB, 15 Mb 755 MB peak RSS; about 3 GB extrapolated at this bound).
FULL_INDEX_MAX_BASES = 100_000_000
PREFIX = "genome"
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


def build_hisat2_index(dest: str | os.PathLike[str], fasta: str, gtf: str, threads: int, log: IO[str]) -> dict[str, Any]:
    """Build the HISAT2 index of ``fasta`` (with ``gtf``'s splice sites) into folder ``dest``.

    Writes ``dest/genome.*.ht2``, ``dest/splice_sites.txt`` (always: a plain index needs it at
    alignment) and ``dest/index.json`` (the record returned: prefix, mode, splice-site file,
    bases, the commands run).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    bases = genome_bases(fasta)
    mode = index_mode(bases)
    commands = []
    ss, exons = dest / SPLICE_SITES, dest / EXONS
    with open(ss, "wb") as out:
        argv = ["hisat2_extract_splice_sites.py", gtf]
        tools.run(argv, log, stdout=out)
        commands.append(tools.command_line(argv) + f" > {ss}")
    argv = ["hisat2-build", "-p", str(threads)]
    if mode == "splice-sites":
        with open(exons, "wb") as out:
            argv_exons = ["hisat2_extract_exons.py", gtf]
            tools.run(argv_exons, log, stdout=out)
            commands.append(tools.command_line(argv_exons) + f" > {exons}")
        argv += ["--ss", str(ss), "--exon", str(exons)]
    argv += [fasta, str(dest / PREFIX)]
    tools.run(argv, log)
    commands.append(tools.command_line(argv))
    record = {
        "prefix": str((dest / PREFIX).resolve()),
        "mode": mode,
        "bases": bases,
        "splice_sites": str(ss.resolve()),
        "known_splicesite_infile": None if mode == "splice-sites" else str(ss.resolve()),
        "commands": commands,
    }
    (dest / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return record
