"""The bincount pass: every bin's base count, as ``samtools bedcov`` gives it to ``cnvkit.py
coverage``, from one sequential read of the BAM (``bincount.c`` beside this module, built once
per installation against the system's htslib).

Where it builds and runs, the coverage engine (:mod:`localgene.cnvkit.coverage_engine`) uses it
instead of mosdepth and its guard pass: one pass instead of two, no per-base array of the
longest contig (it holds the bins and the open reads only), and the two cases mosdepth gets
wrong counted as bedcov does (a read running past its contig's end, a read whose CIGAR consumes
no reference base). ``docs/coverage.md`` has the definition, the proof and the figures.

The binary is built with ``cc -O2 … -lhts`` (``make setup`` does it; otherwise the first
coverage step that needs it does, under a lock) into ``<sys.prefix>/libexec/localgene/``, or
``~/.cache/localgene/`` where that is not writable, named by a digest of the source and the
build flags, so an edited source is built again and two installations never share one.
Standard library only at import time, as the rest of the coverage step.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).with_name("bincount.c")
COMPILER_FLAGS = ["-O2", "-std=c99", "-D_POSIX_C_SOURCE=200809L"]
LIBRARIES = ["-lhts"]


class CounterUnavailable(Exception):
    """bincount cannot be built or run here; the message says why."""


def _digest() -> str:
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join([*COMPILER_FLAGS, *LIBRARIES]).encode())
    return h.hexdigest()[:12]


def _build_dirs() -> list[Path]:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [Path(sys.prefix, "libexec", "localgene"), cache / "localgene"]


def _compiler() -> str:
    for name in (os.environ.get("CC") or "", "cc", "gcc"):
        if name and shutil.which(name):
            return name
    raise CounterUnavailable("no C compiler (cc) to build bincount")


def binary(build: bool = True) -> Path:
    """The built bincount, building it first where it is missing (``build``). Raises
    :class:`CounterUnavailable` with the reason when it cannot be had."""
    name = f"bincount-{_digest()}"
    for folder in _build_dirs():
        if os.access(folder / name, os.X_OK):
            return folder / name
    if not build:
        raise CounterUnavailable("bincount is not built")
    compiler = _compiler()
    errors = []
    for folder in _build_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return _build(compiler, folder, name)
        except OSError as exc:  # not writable here: the next folder
            errors.append(f"{folder}: {exc.strerror or exc}")
    raise CounterUnavailable(f"no folder to build bincount in ({'; '.join(errors)})")


def _build(compiler: str, folder: Path, name: str) -> Path:
    target = folder / name
    with open(folder / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the coverage steps of a job may all get here at once
        if os.access(target, os.X_OK):
            return target
        partial = folder / f".{name}.{os.getpid()}"
        argv = [compiler, *COMPILER_FLAGS, "-o", str(partial), str(SOURCE), *LIBRARIES]
        proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            with contextlib.suppress(OSError):
                partial.unlink()
            said = proc.stderr.strip().splitlines()
            raise CounterUnavailable(f"bincount did not build ({said[0] if said else f'exit {proc.returncode}'}; "
                                     "it needs the htslib headers: Debian's libhts-dev)")
        os.replace(partial, target)
    return target


def basecounts(bam: str, intervals: list[tuple[str, int, int]], min_mapq: int, exclude_flags: int,
               scratch: str, threads: int = 1) -> tuple[list[int], list[str]]:
    """The base count of each interval (bins inside their contigs, any order, overlaps
    allowed), in the order given, from one bincount pass; its argv."""
    program = binary()
    bins = Path(scratch, "bins.tsv")
    with open(bins, "w") as fh:
        fh.writelines(f"{chrom}\t{start}\t{end}\n" for chrom, start, end in intervals)
    argv = [str(program), "-F", str(exclude_flags), "-Q", str(min_mapq)]
    if threads > 1:
        argv += ["-@", str(threads - 1)]  # BGZF decompression beside the count
    argv += [bam, str(bins)]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        said = proc.stderr.strip().splitlines()
        raise CounterUnavailable(f"bincount failed (exit {proc.returncode}: {said[-1] if said else ''})")
    counts = [int(x) for x in proc.stdout.split()]
    if len(counts) != len(intervals):
        raise CounterUnavailable(f"bincount reported {len(counts)} of {len(intervals)} bins")
    return counts, argv


def main() -> int:
    """``python -m localgene.cnvkit.coverage_counter``: build bincount now (``make setup``)."""
    try:
        print(binary())
    except CounterUnavailable as exc:
        print(f"localgene: bincount not built: {exc}; coverage uses mosdepth instead", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
