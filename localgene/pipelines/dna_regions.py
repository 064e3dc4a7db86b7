"""Where a DNA job calls: the reference's contigs (from its cached .fai), calling regions from
BED / interval_list / GATK .intervals files, and the contigs grouped into calling shards."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from localgene.errors import InvalidRequest


def fai_contigs(fai: str | os.PathLike) -> list[tuple[str, int]]:
    """(name, length) of every sequence of a ``.fai`` index."""
    out = []
    for line in Path(fai).read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            out.append((parts[0], int(parts[1])))
    return out


def reference_contigs(fasta: str, cache_dir: str | os.PathLike) -> list[tuple[str, int]]:
    """(name, length) of the reference's sequences, from its ``.fai`` in the shared index cache
    (:func:`localgene.pipelines.index_builders.ensure_faidx`: built once per FASTA content, the entry the
    ``dna_reference`` step links into the job). Every Snakemake process of a job parses the
    workflow; with this, none reads the FASTA itself (a stat-keyed fingerprint and a small file).
    Raises :class:`InvalidRequest` naming ``ref`` for a FASTA that cannot be indexed."""
    from localgene.pipelines import index_builders, index_cache
    if str(fasta).endswith(".gz"):
        raise InvalidRequest("a gzipped FASTA cannot be indexed here; give an uncompressed FASTA", field="ref")
    if not Path(fasta).is_file():
        raise InvalidRequest(f"{fasta} is not a file", field="ref")
    try:
        entry = index_builders.ensure_faidx(cache_dir, fasta, log=lambda line: None)
    except index_cache.IndexBuildFailed as exc:
        raise InvalidRequest(f"{fasta} cannot be indexed: {exc}", field="ref") from None
    return fai_contigs(entry / f"{index_cache.PREFIX}.fa.fai")


def contigs(fasta: str | os.PathLike) -> list[tuple[str, int]]:
    """(name, length) of every sequence, from ``<fasta>.fai`` if present, else the FASTA."""
    fai = Path(str(fasta) + ".fai")
    if fai.is_file():
        return fai_contigs(fai)
    out, name, length = [], None, 0
    with open(fasta, "rb") as fh:
        for line in fh:
            if line.startswith(b">"):
                if name is not None:
                    out.append((name, length))
                name, length = line[1:].split()[0].decode(), 0
            else:
                length += len(line.strip())
    if name is not None:
        out.append((name, length))
    return out


def shards(chroms: list[tuple[str, int]], n: int) -> list[list[tuple[str, int]]]:
    """Split contigs into at most ``n`` groups of similar total length (longest first, greedy)."""
    n = max(1, min(n, len(chroms)))
    groups: list[list[tuple[str, int]]] = [[] for _ in range(n)]
    sizes = [0] * n
    for chrom in sorted(chroms, key=lambda c: -c[1]):
        i = sizes.index(min(sizes))
        groups[i].append(chrom)
        sizes[i] += chrom[1]
    return [g for g in groups if g]


def intervals_to_bed(paths: list[str], chrom_lengths: Mapping[str, int]) -> list[tuple[str, int, int]]:
    """Read ``.bed`` (0-based), ``.interval_list`` / ``.interval-list`` (Picard: SAM header,
    1-based inclusive) and ``.intervals`` (GATK: ``chr``, ``chr:start-end`` or ``chr:pos``,
    1-based inclusive) files into sorted, merged 0-based half-open intervals.

    Raises :class:`InvalidRequest` naming ``intervals[i]`` and the line for a malformed line or
    a contig the reference does not have."""
    out: list[tuple[str, int, int]] = []
    for i, path in enumerate(paths):
        field = f"intervals[{i}]"
        lower = str(path).lower()
        with open(path) as fh:
            for n, line in enumerate(fh, 1):
                text = line.strip()
                if not text or text.startswith(("#", "@", "track", "browser")):
                    continue
                try:
                    if lower.endswith(".bed"):
                        cols = text.split("\t") if "\t" in text else text.split()
                        chrom, start, end = cols[0], int(cols[1]), int(cols[2])
                    elif lower.endswith((".interval_list", ".interval-list")):
                        cols = text.split("\t")
                        chrom, start, end = cols[0], int(cols[1]) - 1, int(cols[2])
                    else:
                        m = re.fullmatch(r"(\S+?)(?::([\d,]+)(?:-([\d,]+))?)?", text)
                        if not m:
                            raise ValueError
                        chrom = m.group(1)
                        if m.group(2) is None:
                            start, end = 0, chrom_lengths.get(chrom, 0)
                        else:
                            start = int(m.group(2).replace(",", "")) - 1
                            end = int((m.group(3) or m.group(2)).replace(",", ""))
                except (ValueError, IndexError):
                    raise InvalidRequest(f"line {n} is not an interval: {text[:80]!r}", field=field) from None
                if chrom not in chrom_lengths:
                    raise InvalidRequest(f"line {n}: contig {chrom!r} is not in the reference", field=field)
                end = min(end, chrom_lengths[chrom])
                if start < 0 or end <= start:
                    raise InvalidRequest(f"line {n}: empty or negative interval {text[:80]!r}", field=field)
                out.append((chrom, start, end))
    order = {c: k for k, c in enumerate(chrom_lengths)}
    out.sort(key=lambda r: (order[r[0]], r[1], r[2]))
    merged: list[tuple[str, int, int]] = []
    for chrom, start, end in out:
        if merged and merged[-1][0] == chrom and start <= merged[-1][2]:
            merged[-1] = (chrom, merged[-1][1], max(end, merged[-1][2]))
        else:
            merged.append((chrom, start, end))
    return merged
