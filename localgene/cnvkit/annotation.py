"""Gene annotation files for ``cnvkit.py target --annotate``.

CNVkit reads refFlat and BED names well, but reads GFF3 by joining the names of *every*
overlapping feature (``BRAF,NM_004333.4,NP_004324.2``) and cannot read gzip-compressed files.
localgene therefore hands CNVkit:

* refFlat and BED files unchanged (decompressed when they were gzip-compressed);
* GFF3 and GTF files (GENCODE/Ensembl style) as a BED of gene spans named by the gene symbol
  (``gene_name``, else ``Name``, else ``gene_id``), one line per gene.

This is a change of file format only: the genes and coordinates are the file's own.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from pathlib import Path

from localgene import fileio
from localgene.errors import InvalidRequest

FIELD = "annotation_file"
_GTF_ATTR = re.compile(r'\s*([^\s"]+)\s+"?([^";]*)"?\s*')


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", errors="replace")
    return open(path, errors="replace")


def _data_lines(path: Path) -> Iterator[str]:
    with _open_text(path) as fh:
        for line in fh:
            if line.strip() and not line.startswith(("#", "track", "browser")):
                yield line.rstrip("\n")


def sniff(path: str | os.PathLike) -> str:
    """``gff3``, ``gtf``, ``refflat`` or ``bed`` from the first data line."""
    path = Path(path)
    try:
        first = next(_data_lines(path), None)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InvalidRequest(f"{path} cannot be read: {exc}", field=FIELD) from None
    if first is None:
        raise InvalidRequest(f"{path} holds no annotation lines", field=FIELD)
    cols = first.split("\t")
    if len(cols) == 9 and cols[3].isdigit() and cols[4].isdigit():
        return "gtf" if re.search(r'\w+ "', cols[8]) else "gff3"
    if len(cols) >= 11 and cols[4].isdigit() and cols[5].isdigit() and "," in cols[9]:
        return "refflat"
    if len(cols) >= 4 and cols[1].isdigit() and cols[2].isdigit():
        return "bed"
    raise InvalidRequest(
        f"{path} is not a refFlat, BED (with gene names), GFF3 or GTF file "
        f"(first line: {first[:80]!r})",
        field=FIELD,
    )


def _attributes(text: str, fmt: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in text.strip().strip(";").split(";"):
        if not part.strip():
            continue
        if fmt == "gff3" and "=" in part:
            key, _, value = part.partition("=")
            attrs[key.strip()] = value.strip()
        else:
            m = _GTF_ATTR.match(part)
            if m:
                attrs.setdefault(m.group(1), m.group(2))
    return attrs


def _gene_symbol(attrs: dict[str, str]) -> str | None:
    for key in ("gene_name", "Name", "gene", "gene_id"):
        if attrs.get(key):
            return attrs[key]
    return None


def gff_genes(path: str | os.PathLike, fmt: str) -> list[tuple[str, int, int, str]]:
    """Gene spans (BED coordinates) named by symbol, from GFF3/GTF.

    Uses ``gene`` features; a file without them (e.g. exons only) gets each gene's span from
    its other features.
    """
    genes: list[tuple[str, int, int, str]] = []
    spans: dict[tuple[str, str], list[int]] = {}
    for line in _data_lines(Path(path)):
        cols = line.split("\t")
        if len(cols) != 9 or not (cols[3].isdigit() and cols[4].isdigit()):
            continue
        symbol = _gene_symbol(_attributes(cols[8], fmt))
        if not symbol:
            continue
        start, end = int(cols[3]) - 1, int(cols[4])
        if cols[2] == "gene":
            genes.append((cols[0], start, end, symbol))
        else:
            span = spans.setdefault((cols[0], symbol), [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
    if not genes:
        genes = [(chrom, s, e, sym) for (chrom, sym), (s, e) in spans.items()]
    return sorted(genes)


def prepare_annotation(src: str | os.PathLike, dest: str | os.PathLike) -> str:
    """Write the annotation CNVkit should read to ``dest``; returns the detected format."""
    src, dest = Path(src), Path(dest)
    fmt = sniff(src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with fileio.atomic_open(dest) as out:
        if fmt in ("refflat", "bed"):
            with _open_text(src) as fh:
                for line in fh:
                    out.write(line)
        else:
            genes = gff_genes(src, fmt)
            if not genes:
                raise InvalidRequest(f"{src} has no features with a gene name", field=FIELD)
            for chrom, start, end, symbol in genes:
                out.write(f"{chrom}\t{start}\t{end}\t{symbol}\n")
    return fmt
