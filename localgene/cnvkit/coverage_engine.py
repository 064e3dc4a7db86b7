"""Coverage of one BAM in target and antitarget bins: the same ``.cnn`` as ``cnvkit.py coverage``,
from one pass of a faster reader where that is proven to give the same bytes.

``cnvkit.py coverage`` (its default, read-depth path) asks ``samtools bedcov`` (through pysam)
for each bin's *base count* — the sum over reads of their reference span inside the bin,
reads with flag 0x704 or mapping quality below ``-q`` left out — and turns the counts into the
table (depth = count / span, log2, gene names, ``%.6g``). It reads each BAM twice (target and
antitarget bins) and decodes a read once per bin it touches: 13.6x the CPU of decoding the BAM
once (``samtools view -c``).

Two fast engines compute the same base counts for the target and the antitarget bins in one
read of the BAM and hand them to **CNVkit's own coverage command**, run in this process with
``pysam.bedcov`` answered from those counts in samtools bedcov's output format. Every step after
the counts (filtering the BED to the BAM's contigs, column detection, pandas parsing, depth,
log2, CNVkit's log lines, writing) is CNVkit's code, so the ``.cnn`` is byte-identical
(tests/cnvkit/test_coverage_engine.py proves it for both engines on the demo BAMs and on BAMs
built to contain every flag, CIGAR and edge case listed there):

* **bincount** (:mod:`localgene.cnvkit.coverage_counter`, ``bincount.c``), the default where it
  builds: one sequential pass that adds up each counted read's reference span inside each bin,
  as bedcov's pileup does, with no per-base array;
* **mosdepth**, where bincount cannot be built or run (no C compiler or htslib headers):
  ``mosdepth -n -x -F 1796 -Q q --by BINS`` with ``MOSDEPTH_PRECISION=10`` (``-x`` counts each
  read's reference span with no mate-overlap correction, as bedcov does; 10 decimals make
  ``mean x span`` recover the integer count exactly), after a guard pass for the reads it
  counts differently.

A fast engine is used only where proven; otherwise :func:`cnvkit_coverage` runs ``cnvkit.py
coverage`` itself, and the step log's first lines say which engine ran and why:

* ``--count`` (another algorithm), a bedGraph input, ``-f/--fasta`` (CRAM): CNVkit;
* ``LOCALGENE_COVERAGE_ENGINE=cnvkit``: CNVkit;
* ``samtools`` not on PATH (it reads the BAM's contigs): CNVkit;
* a bin with a negative start, an end before its start, or an end past its contig: CNVkit;
* bincount failing (a BAM not sorted by coordinate, a truncated BAM): mosdepth, then CNVkit.

For mosdepth only (``docs/coverage.md`` has the table):

* ``mosdepth`` not on PATH, or ``mosdepth --version`` failing (Debian's binary fails with
  ``could not load: libhts.so`` until ``libhts-dev`` is installed): CNVkit;
* a counted read with no reference-consuming CIGAR operation (mosdepth counts 1 base for it,
  bedcov 0): found by ``samtools view -c -F 1796 -q q -e 'rlen==0'`` before mosdepth runs,
  then CNVkit;
* a memory limit on the step (SLURM's ``--mem``, a cgroup) below what mosdepth needs (about 8
  bytes per base of the genome's longest contig: 2 GB for human chr1): CNVkit;
* mosdepth failing for any reason (it aborts on a read running past its contig's end), or its
  output not covering every bin: CNVkit.

This module imports only the standard library at import time (the workflow's coverage step
runs it, also inside the conda environment of envs/cnvkit.yaml); CNVkit is imported only when
a fast engine writes its tables.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from localgene.cnvkit.coverage_guards import (  # noqa: F401  (engine.tools_missing etc.: the engine's guards)
    engine_choice,
    memory_limit,
    mosdepth_memory,
    small_bam_with_warm_cnvkit,
    tools_missing,
    unproven_options,
)

ENV_ENGINE = "LOCALGENE_COVERAGE_ENGINE"
#: Flags CNVkit's bedcov call leaves out (unmapped, secondary, QC-fail, duplicate): 0x704.
EXCLUDE_FLAGS = 1796
#: mosdepth's decimals for region means: enough for mean x span to give the exact integer.
MOSDEPTH_PRECISION = "10"

Interval = tuple[str, int, int]


class EngineUnavailable(Exception):
    """The fast engine cannot be used (or proven) here; the message says why."""


@dataclass
class CoverageJob:
    """One ``.cnn`` to write: ``argv`` is the ``cnvkit.py`` argument list it stands for
    (``["coverage", BAM, BINS, *options, "-o", OUT]``)."""

    kind: str
    bins: str
    output: str
    argv: list[str]


# -- CNVkit's own coverage ---------------------------------------------------------------------


def cnvkit_coverage(argv: list[str], log: IO[str], note: str | None = None) -> int:
    """``cnvkit.py <argv>`` (through the job's CNVkit step server where it runs, else as a
    process: :func:`localgene.cnvkit.step.run_cnvkit`), its output in ``log``; its exit code.
    Every coverage the fast engine does not compute goes through here."""
    from localgene.cnvkit.step import run_cnvkit

    return run_cnvkit(argv, log, note=note)


# -- when the fast engine may run -------------------------------------------------------------


def bam_contigs(bam: str) -> dict[str, int]:
    """Contig name -> length, from the BAM header (``samtools view -H``)."""
    out = subprocess.run(["samtools", "view", "-H", bam], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise EngineUnavailable(f"samtools view -H failed: {out.stderr.strip()[-300:]}")
    contigs = {}
    for line in out.stdout.splitlines():
        if line.startswith("@SQ"):
            tags = dict(f.split(":", 1) for f in line.split("\t")[1:] if ":" in f)
            contigs[tags["SN"]] = int(tags["LN"])
    return contigs


def bedcov_lines(text: str) -> Iterator[tuple[str, Interval]]:
    """``(line, (chrom, start, end))`` for each line ``samtools bedcov`` reports, in its order.

    As bedcov.c reads a BED: lines split at newlines (a trailing CR dropped), empty lines,
    ``#`` comments and ``track ``/``browser `` lines skipped, the contig up to the first
    whitespace, start and end the next two whitespace-separated integers.
    """
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        if not line or line[0] == "#" or line.startswith(("track ", "browser ")):
            continue
        fields = line.split(None, 1)
        numbers = fields[1].split() if len(fields) > 1 else []
        try:
            start, end = int(numbers[0]), int(numbers[1])
        except (IndexError, ValueError):
            raise EngineUnavailable(f"a BED line bedcov would refuse: {line[:80]!r}") from None
        yield line, (fields[0], start, end)


def counted_intervals(bins_files: list[str], contigs: dict[str, int]) -> set[Interval]:
    """The intervals CNVkit asks bedcov about: lines on the BAM's contigs (CNVkit's filter)."""
    wanted: set[Interval] = set()
    for path in bins_files:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt") as fh:
            text = fh.read()
        for _, (chrom, start, end) in bedcov_lines(text):
            if chrom not in contigs:
                continue  # CNVkit drops these lines before bedcov (and the tab-split test decides)
            if start < 0 or end < start or end > contigs[chrom]:
                raise EngineUnavailable(f"bin {chrom}:{start}-{end} is not inside its contig "
                                        f"(length {contigs[chrom]}); not proven for mosdepth")
            wanted.add((chrom, start, end))
    return wanted


# -- memory -----------------------------------------------------------------------------------

#: mosdepth holds a per-base array of the contig it reads: measured 1.95 GB peak RSS for a
#: 249 Mb contig (human chr1), i.e. about 8 bytes per base; plus room for the step's own
#: Python process, which holds its memory while mosdepth runs.
def reads_without_reference_bases(bam: str, min_mapq: int, threads: int = 1) -> tuple[int, list[str]]:
    """Counted reads (flag and MAPQ as CNVkit) whose CIGAR consumes no reference base; argv."""
    argv = ["samtools", "view", "-c", "-F", str(EXCLUDE_FLAGS), "-q", str(min_mapq), "-e", "rlen==0"]
    if threads > 1:
        argv += ["-@", str(threads - 1)]
    argv.append(bam)
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise EngineUnavailable(f"samtools view failed: {proc.stderr.strip()[-300:]}")
    return int(proc.stdout.strip()), argv


def mosdepth_basecounts(bam: str, intervals: set[Interval], contigs: dict[str, int], min_mapq: int,
                        scratch: str, threads: int = 1) -> tuple[dict[Interval, int], list[str]]:
    """Base count of every interval from one mosdepth pass; the mosdepth argv."""
    order = {c: i for i, c in enumerate(contigs)}
    todo = sorted((iv for iv in intervals if iv[2] > iv[1]), key=lambda iv: (order[iv[0]], iv[1], iv[2]))
    counts = {iv: 0 for iv in intervals if iv[2] == iv[1]}  # bedcov: an empty bin counts nothing
    if not todo:
        return counts, []
    bed = Path(scratch, "bins.bed")
    with open(bed, "w") as fh:
        fh.writelines(f"{chrom}\t{start}\t{end}\t{i}\n" for i, (chrom, start, end) in enumerate(todo))
    prefix = str(Path(scratch, "md"))
    argv = ["mosdepth", "-n", "-x", "-F", str(EXCLUDE_FLAGS), "-Q", str(min_mapq)]
    if threads > 1:
        argv += ["-t", str(threads - 1)]
    argv += ["--by", str(bed), prefix, bam]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, MOSDEPTH_PRECISION=MOSDEPTH_PRECISION))
    if proc.returncode != 0:
        said = proc.stderr.strip().splitlines()
        raise EngineUnavailable(f"mosdepth failed (exit {proc.returncode}: {said[-1] if said else ''})")
    seen = 0
    with gzip.open(f"{prefix}.regions.bed.gz", "rt") as fh:
        for line in fh:
            _, start, end, name, mean = line.rstrip("\n").split("\t")
            iv = todo[int(name)]
            span = iv[2] - iv[1]
            exact = float(mean) * span
            count = round(exact)
            if (int(start), int(end)) != iv[1:] or abs(exact - count) > 1e-3:
                raise EngineUnavailable(f"mosdepth's value for {iv} is not an exact base count ({mean})")
            counts[iv] = count
            seen += 1
    if seen != len(todo):
        raise EngineUnavailable(f"mosdepth reported {seen} of {len(todo)} bins")
    return counts, argv


# -- CNVkit's table code, fed the counts ------------------------------------------------------


def bedcov_answer(counts: dict[Interval, int]):
    """A stand-in for ``pysam.bedcov`` that answers as samtools bedcov does (each BED line, a
    tab, its base count) from the counts of the fast pass."""

    def bedcov(*args, split_lines=True, **_):
        with open(args[-2]) as fh:
            text = fh.read()
        out = io.StringIO()
        for line, iv in bedcov_lines(text):
            out.write(f"{line}\t{counts[iv]}\n")  # KeyError: a bin never counted -> not used
        raw = out.getvalue()
        return raw if not split_lines else raw.splitlines(True)

    return bedcov


@contextlib.contextmanager
def cnvkit_logging(log: IO[str]) -> Iterator[None]:
    """CNVkit's log lines into ``log``, formatted as ``cnvkit.py`` does (``%(message)s``)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _import_cnvkit() -> None:
    with contextlib.suppress(Exception):  # an import error shows again, in order, in write_cnn
        import cnvlib.commands  # noqa: F401


def write_cnn(argv: list[str], counts: dict[Interval, int], log: IO[str]) -> None:
    """Run CNVkit's own ``coverage`` command (its parser and command function) with bedcov's
    base counts taken from ``counts``."""
    import pysam
    from cnvlib import commands

    args = commands.parse_args([str(a) for a in argv])
    real = pysam.bedcov
    pysam.bedcov = bedcov_answer(counts)
    try:
        with cnvkit_logging(log):
            args.func(args)
    finally:
        pysam.bedcov = real


# -- one sample ---------------------------------------------------------------------------------


def _refuse_reads_without_reference_bases(count: int) -> None:
    if count:
        raise EngineUnavailable(f"{count} counted reads have no reference-consuming CIGAR operation "
                                "(mosdepth would count 1 base each, CNVkit counts 0)")


def _counter_pass(bam: str, intervals: set[Interval], min_mapq: int, threads: int,
                  scratch: str) -> tuple[dict[Interval, int], list[str]]:
    """Base count of every interval from one bincount pass; the commands run (for the log)."""
    from localgene.cnvkit.coverage_counter import CounterUnavailable, basecounts

    todo = sorted(iv for iv in intervals if iv[2] > iv[1])
    counts = {iv: 0 for iv in intervals if iv[2] == iv[1]}  # bedcov: an empty bin counts nothing
    if todo:
        try:
            values, argv = basecounts(bam, todo, min_mapq, EXCLUDE_FLAGS, scratch, threads)
        except CounterUnavailable as exc:
            raise EngineUnavailable(str(exc)) from None
        counts.update(zip(todo, values))
        return counts, [f"$ {shlex.join(argv)}"]
    return counts, []


def _mosdepth_pass(bam: str, intervals: set[Interval], contigs: dict[str, int], min_mapq: int,
                   threads: int, scratch: str) -> tuple[dict[Interval, int], list[str]]:
    """Base count of every interval from the guard pass and one mosdepth pass; the commands."""
    missing = tools_missing()
    if missing:
        raise EngineUnavailable(missing)
    needed, limit = mosdepth_memory(contigs), memory_limit(threads)
    if limit is not None and needed > limit:
        raise EngineUnavailable(f"mosdepth needs about {needed >> 20} MB for this genome's longest contig "
                                f"({max(contigs.values())} bases); the step may use {limit >> 20} MB")
    # With one thread the guard runs first (a BAM it refuses costs no mosdepth pass); with more,
    # the guard and mosdepth read the BAM side by side, the threads shared between them.
    if threads < 2:
        no_ref, guard_argv = reads_without_reference_bases(bam, min_mapq, 1)
        _refuse_reads_without_reference_bases(no_ref)
        counts, md_argv = mosdepth_basecounts(bam, intervals, contigs, min_mapq, scratch, 1)
    else:
        guard_threads = threads // 2
        with ThreadPoolExecutor(1) as pool:
            guard = pool.submit(reads_without_reference_bases, bam, min_mapq, guard_threads)
            counts, md_argv = mosdepth_basecounts(bam, intervals, contigs, min_mapq, scratch,
                                                  threads - guard_threads)
            no_ref, guard_argv = guard.result()
        _refuse_reads_without_reference_bases(no_ref)
    commands = [f"$ {shlex.join(guard_argv)}  # -> 0 reads without reference bases"]
    if md_argv:
        commands.append(f"$ MOSDEPTH_PRECISION={MOSDEPTH_PRECISION} {shlex.join(md_argv)}")
    return counts, commands


def fast_pass(bam: str, jobs: list[CoverageJob], options: dict, threads: int,
              scratch_parent: str) -> tuple[str, dict[Interval, int], list[str]]:
    """The engine that ran (``bincount`` or ``mosdepth``), the base counts of every bin of
    ``jobs`` from its pass over the BAM, and the commands run (for the log). bincount where it
    builds and runs (``auto``, ``bincount``), else mosdepth with its guard pass (``auto``,
    ``mosdepth``). Raises :class:`EngineUnavailable` when the result would not be proven."""
    min_mapq = int(options.get("min_mapq") or 0)
    contigs = bam_contigs(bam)
    intervals = counted_intervals([j.bins for j in jobs], contigs)
    choice = engine_choice()
    with tempfile.TemporaryDirectory(prefix=".mosdepth-", dir=scratch_parent) as scratch:
        passed_over = None
        if choice in ("auto", "bincount"):
            try:
                counts, commands = _counter_pass(bam, intervals, min_mapq, threads, scratch)
                return "bincount", counts, commands
            except EngineUnavailable as exc:
                if choice == "bincount":
                    raise
                passed_over = f"# bincount not used: {exc}"
        counts, commands = _mosdepth_pass(bam, intervals, contigs, min_mapq, threads, scratch)
    return "mosdepth", counts, [passed_over, *commands] if passed_over else commands


def compute(bam: str, jobs: list[CoverageJob], logs: dict[str, IO[str]], options: dict, threads: int = 1,
            scratch_parent: str | None = None) -> int:
    """Write every job's ``.cnn``; each kind's log names the engine. 0, or CNVkit's exit code."""
    reason = unproven_options(options)
    if reason is None and engine_choice() == "cnvkit":
        reason = f"{ENV_ENGINE}=cnvkit"
    if reason is None:
        reason = small_bam_with_warm_cnvkit(bam)
    if reason is None and shutil.which("samtools") is None:
        reason = "samtools is not on PATH"
    if reason is None:
        scratch_parent = scratch_parent or str(Path(jobs[0].output).parent)
        Path(scratch_parent).mkdir(parents=True, exist_ok=True)
        marks = {job.kind: logs[job.kind].tell() for job in jobs}
        # CNVkit's import (seconds of CPU) overlaps the passes over the BAM, which run as
        # processes: it costs no wall time where a core is free.
        importing = threading.Thread(target=_import_cnvkit, daemon=True)
        importing.start()
        try:
            name, counts, commands = fast_pass(bam, jobs, options, threads, scratch_parent)
            importing.join()
            for job in jobs:
                log = logs[job.kind]
                log.write(f"# coverage engine: {name} base counts + CNVkit's own table code; "
                          f"same .cnn as: cnvkit.py {shlex.join(map(str, job.argv))}\n")
                log.write("\n".join(commands) + "\n")
                log.flush()
                write_cnn(job.argv, counts, log)
            return 0
        except Exception as exc:  # noqa: BLE001 - anything unproven or failing: CNVkit computes it
            reason = f"fast engine not used: {exc}"
            importing.join()  # never leave an import running into CNVkit's fallback or exit
            for job in jobs:
                Path(job.output).unlink(missing_ok=True)
                logs[job.kind].seek(marks[job.kind])
                logs[job.kind].truncate()
    for job in jobs:
        code = cnvkit_coverage(job.argv, logs[job.kind], note=f"# coverage engine: cnvkit ({reason})")
        if code != 0:
            return code
    return 0
