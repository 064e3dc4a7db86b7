"""The indexes the shared cache builds, each with the real tool: ``samtools faidx``, Picard's
sequence dictionary, ``bwa index``, ``hisat2-build`` (with splice sites and exons), and their
versions; :data:`BUILDERS` by kind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from localgene.pipelines.index_cache import PREFIX, IndexBuildFailed, Log, ensure_index


def tool_version(argv: list[str]) -> str:
    """The first line a tool prints for its version (``samtools --version`` …)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IndexBuildFailed(f"cannot run {argv[0]}: {exc}") from None
    text = (out.stdout or out.stderr).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    if argv[0] == "bwa":  # bwa prints its usage, with "Version: 0.7.17-r1188"
        lines = [line for line in lines if line.startswith("Version")] or lines
    tool, first = os.path.basename(argv[0]), (lines[0].strip() if lines else "unknown")
    return first if first.startswith(tool) else f"{tool} {first}"


def run_tool(argv: list[str], log: Log, stdout_path: Path | None = None) -> None:
    """Run one build command (an argv list, no shell); its output goes to ``log``."""
    log("$ " + " ".join(argv) + (f" > {stdout_path.name}" if stdout_path else ""))
    sink = open(stdout_path, "w") if stdout_path else None
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE if sink is None else sink,
                              stderr=subprocess.PIPE if stdout_path else subprocess.STDOUT,
                              text=True, errors="replace", check=False)
    except OSError as exc:
        raise IndexBuildFailed(f"cannot run {argv[0]}: {exc}") from None
    finally:
        if sink is not None:
            sink.close()
    text = (proc.stderr if stdout_path else proc.stdout) or ""
    for line in text.splitlines()[-20:]:
        log(line)
    if proc.returncode != 0:
        tail = " | ".join(line for line in text.splitlines()[-3:] if line.strip())
        raise IndexBuildFailed(f"{os.path.basename(argv[0])} exited with {proc.returncode}: {tail}")


def ensure_faidx(cache_dir, fasta, log: Log = print) -> Path:
    """``<entry>/reference.fa.fai``: samtools faidx of ``fasta``."""
    def build(tmp: Path) -> None:
        run_tool(["samtools", "faidx", str(fasta), "--fai-idx", str(tmp / f"{PREFIX}.fa.fai")], log)

    return ensure_index(cache_dir, "faidx", {"fasta": fasta}, build, log,
                        version=tool_version(["samtools", "--version"]))


def ensure_dict(cache_dir, fasta, log: Log = print) -> Path:
    """``<entry>/reference.dict``: the sequence dictionary (``samtools dict``, Picard's format)."""
    def build(tmp: Path) -> None:
        run_tool(["samtools", "dict", str(fasta), "-o", str(tmp / f"{PREFIX}.dict")], log)

    return ensure_index(cache_dir, "dict", {"fasta": fasta}, build, log,
                        version=tool_version(["samtools", "--version"]))


def ensure_bwa(cache_dir, fasta, log: Log = print) -> Path:
    """``<entry>/reference.{amb,ann,bwt,pac,sa}``: ``bwa index``; the prefix is ``<entry>/reference``."""
    def build(tmp: Path) -> None:
        run_tool(["bwa", "index", "-p", str(tmp / PREFIX), str(fasta)], log)

    return ensure_index(cache_dir, "bwa", {"fasta": fasta}, build, log, version=tool_version(["bwa"]))


def ensure_hisat2(cache_dir, fasta, gtf, log: Log = print, *, threads: int = 1, splice_aware: bool = True) -> Path:
    """``<entry>/reference.*.ht2`` plus ``splice_sites.txt`` and ``exons.txt`` from the GTF.

    ``splice_aware`` (small genomes) builds with ``--ss``/``--exon``; otherwise a plain index
    (kind ``hisat2-plain``) for aligning with ``--known-splicesite-infile splice_sites.txt``
    (a human genome with splice sites needs ~160-200 GB). ``threads`` is not part of the key.
    """
    def build(tmp: Path) -> None:
        ss, exons = tmp / "splice_sites.txt", tmp / "exons.txt"
        run_tool(["hisat2_extract_splice_sites.py", str(gtf)], log, stdout_path=ss)
        run_tool(["hisat2_extract_exons.py", str(gtf)], log, stdout_path=exons)
        extra = ["--ss", str(ss), "--exon", str(exons)] if splice_aware else []
        run_tool(["hisat2-build", "-p", str(max(1, threads)), *extra, str(fasta), str(tmp / PREFIX)], log)

    kind = "hisat2" if splice_aware else "hisat2-plain"
    return ensure_index(cache_dir, kind, {"fasta": fasta, "gtf": gtf}, build, log,
                        version=tool_version(["hisat2-build", "--version"]))


#: The kinds a rule can ask for by name (rules/scripts/pipeline_step.py).
BUILDERS = {
    "faidx": lambda cache, fasta, gtf, log, threads: ensure_faidx(cache, fasta, log),
    "dict": lambda cache, fasta, gtf, log, threads: ensure_dict(cache, fasta, log),
    "bwa": lambda cache, fasta, gtf, log, threads: ensure_bwa(cache, fasta, log),
    "hisat2": lambda cache, fasta, gtf, log, threads: ensure_hisat2(cache, fasta, gtf, log, threads=threads),
    "hisat2-plain": lambda cache, fasta, gtf, log, threads: ensure_hisat2(
        cache, fasta, gtf, log, threads=threads, splice_aware=False),
}


