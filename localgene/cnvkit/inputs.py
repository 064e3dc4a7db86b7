"""Preparing a job's local input files for CNVkit, inside the job's own folder.

The reference FASTA and every BAM are exposed to the workflow as symlinks under
``inputs/``; a missing FASTA index or BAM index is built there, never next to the user's file.
BAMs that are not coordinate-sorted, that cannot be indexed, or whose reads lie on contigs the
reference lacks are refused with a message that names the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import pysam

from localgene import fileio
from localgene.errors import InvalidRequest


class InputProblem(InvalidRequest):
    """An input file cannot be used as it is."""


def _symlink(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    dest.symlink_to(src.resolve())


def _fresh_index(data: Path, candidates: list[Path]) -> Path | None:
    for idx in candidates:
        if idx.is_file() and idx.stat().st_mtime >= data.stat().st_mtime - 1:
            return idx
    return None


def link_fasta(src: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Expose the reference FASTA at ``dest`` and make sure ``dest.fai`` exists."""
    src, dest = Path(src), Path(dest)
    _symlink(src, dest)
    fai = Path(f"{dest}.fai")
    existing = _fresh_index(src, [Path(f"{src}.fai")])
    if existing:
        _symlink(existing, fai)
    else:
        try:
            pysam.faidx(str(dest))
        except pysam.utils.SamtoolsError as exc:
            raise InputProblem(
                f"{src} cannot be indexed as a FASTA file: {_last_line(str(exc))}", field="ref"
            ) from None
    return fai


def link_bam(src: str | os.PathLike, dest: str | os.PathLike, field: str = "BAM") -> Path:
    """Expose a BAM at ``dest`` with an index ``dest.bai``; refuse unsorted BAMs."""
    src, dest = Path(src), Path(dest)
    try:
        with pysam.AlignmentFile(str(src), "rb") as bam:
            order = bam.header.to_dict().get("HD", {}).get("SO", "")
    except (OSError, ValueError) as exc:
        raise InputProblem(f"{src} is not a readable BAM file ({exc})", field=field) from None
    if order in ("unsorted", "queryname"):
        raise InputProblem(
            f"{src} is not coordinate-sorted (its header says SO:{order}); sort it with "
            f"`samtools sort` and mark duplicates before submitting",
            field=field,
        )
    _symlink(src, dest)
    bai = Path(f"{dest}.bai")
    existing = _fresh_index(src, [Path(f"{src}.bai"), src.with_suffix(".bai")])
    if existing:
        _symlink(existing, bai)
        return bai
    tmp = bai.with_name(bai.name + ".tmp")
    try:
        pysam.index(str(dest), str(tmp))
    except pysam.utils.SamtoolsError as exc:
        tmp.unlink(missing_ok=True)
        detail = _last_line(str(exc))
        if "sort" in detail.lower():
            problem = "is not coordinate-sorted; sort it with `samtools sort`"
        else:
            problem = f"cannot be indexed ({detail})"
        raise InputProblem(f"{src} {problem}", field=field) from None
    tmp.rename(bai)
    return bai


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


def read_fai(fai: str | os.PathLike) -> dict[str, int]:
    contigs: dict[str, int] = {}
    with open(fai) as fh:
        for line in fh:
            name, length, *_ = line.split("\t")
            contigs[name] = int(length)
    return contigs


def bed_contigs(bed: str | os.PathLike, field: str = "bed") -> dict[str, int]:
    """Contig -> number of regions in a BED / interval-list file; malformed lines refused."""
    counts: dict[str, int] = {}
    with open(bed, errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "@", "track", "browser")):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3 and ":" in cols[0] and "-" in cols[0]:  # chr:start-end lists
                contig = cols[0].rsplit(":", 1)[0]
            elif len(cols) >= 3 and cols[1].isdigit() and cols[2].isdigit():
                contig = cols[0]
            else:
                raise InputProblem(
                    f"line {n} of {bed} is not a BED region (chrom, start, end): {line.strip()[:80]!r}",
                    field=field,
                )
            counts[contig] = counts.get(contig, 0) + 1
    if not counts:
        raise InputProblem(f"{bed} holds no regions", field=field)
    return counts


def check_inputs(
    fai: str | os.PathLike,
    bams: dict[str, str | os.PathLike],
    bed: str | os.PathLike,
    fields: dict[str, str] | None = None,
) -> dict:
    """Check BAMs and BED against the reference; return a summary for the job folder."""
    fields = fields or {}
    ref = read_fai(fai)
    summary: dict = {"reference_contigs": len(ref), "samples": {}}
    regions = bed_contigs(bed)
    missing = sorted(set(regions) - set(ref))
    if missing:
        raise InputProblem(
            f"{bed} names contigs absent from the reference: {', '.join(missing[:10])}"
            + (" …" if len(missing) > 10 else ""),
            field="bed",
        )
    summary["target_regions"] = sum(regions.values())
    for sample, path in bams.items():
        where = fields.get(sample, sample)
        with pysam.AlignmentFile(str(path), "rb") as bam:
            lengths = dict(zip(bam.references, bam.lengths))
            stats = {s.contig: s.mapped for s in bam.get_index_statistics()}
        with_reads = {c for c, n in stats.items() if n > 0}
        absent = sorted(with_reads - set(ref))
        if absent:
            raise InputProblem(
                f"{path} has reads on contigs absent from the reference: "
                f"{', '.join(absent[:10])}; align it to the same reference as `ref`",
                field=where,
            )
        mismatched = sorted(c for c in with_reads if lengths[c] != ref[c])
        if mismatched:
            c = mismatched[0]
            raise InputProblem(
                f"{path} was aligned to another assembly: contig {c} is {lengths[c]} bp in the "
                f"BAM but {ref[c]} bp in the reference",
                field=where,
            )
        if not with_reads:
            raise InputProblem(f"{path} holds no mapped reads", field=where)
        summary["samples"][sample] = {"mapped_reads": sum(stats.values())}
    return summary




def write_json(path: str | os.PathLike, data: dict) -> None:
    fileio.atomic_write_json(path, data, sort_keys=True, make_parents=True)
