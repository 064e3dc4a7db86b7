"""Running a step's tools: argument lists, no shell, the exact command first in the step's log.

:func:`run` and :func:`pipe` return the tools' peak resident memory (kB): the summed RSS of the
tool processes and their children, sampled every :data:`SAMPLE_SECONDS` while they run (what
Snakemake's ``benchmark:`` measures for a ``script:`` or ``shell:`` step). The RNA steps run in
threads of Snakemake's own process, so their ``benchmark:`` records measure all of Snakemake;
this is the step's own figure. (The kernel's ``ru_maxrss`` of a child is no use here: a child
forked from Snakemake starts with Snakemake's high-water mark.)
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import threading
from collections.abc import Iterator, Sequence
from typing import IO

from localgene.errors import WorkflowFailed


def command_line(argv: Sequence[str]) -> str:
    return shlex.join([str(a) for a in argv])


_measuring = threading.local()


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The largest peak RSS (kB) of the tools this thread runs inside the block, as ``[kB]``
    (``[0]`` if none ran): a step's figure."""
    peak = [0]
    _measuring.peak = peak
    try:
        yield peak
    finally:
        _measuring.peak = None


def _note(peak_kb: int) -> int:
    peak = getattr(_measuring, "peak", None)
    if peak is not None:
        peak[0] = max(peak[0], peak_kb)
    return peak_kb


#: How often a running tool's memory is sampled.
SAMPLE_SECONDS = 0.2
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _tree_rss_kb(pid: int) -> int:
    """The summed RSS (kB) of ``pid`` and its descendants now, from /proc (0 once gone)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            total = int(statm.read().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return total
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as children:
                kids = children.read().split()
        except OSError:
            continue
        total += sum(_tree_rss_kb(int(kid)) for kid in kids)
    return total


@contextlib.contextmanager
def _sampled(pids: Sequence[int]) -> Iterator[list[int]]:
    """While the block runs, the largest summed RSS (kB) of ``pids`` and their descendants."""
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], sum(_tree_rss_kb(pid) for pid in pids))
            if stop.wait(SAMPLE_SECONDS):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


def run(argv: Sequence[str], log: IO[str], *, stdout: IO[bytes] | None = None) -> int:
    """Run ``argv``; stderr (and stdout unless redirected) go to ``log`` after a ``$ cmd`` line.
    Returns its peak RSS (kB)."""
    argv = [str(a) for a in argv]
    log.write(f"$ {command_line(argv)}\n")
    log.flush()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else log, stderr=log)
    with _sampled([proc.pid]) as peak_kb:
        code = proc.wait()
    if code != 0:
        raise WorkflowFailed(f"{argv[0]} failed (exit {code}); see the step's log")
    return _note(peak_kb[0])


def pipe(first: Sequence[str], second: Sequence[str], log: IO[str]) -> int:
    """``first | second`` as two processes, both stderr to ``log`` after a ``$ a | b`` line.
    Returns their summed peak RSS (kB: they run at the same time)."""
    first, second = [str(a) for a in first], [str(a) for a in second]
    log.write(f"$ {command_line(first)} | {command_line(second)}\n")
    log.flush()
    producer = subprocess.Popen(first, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    try:
        consumer = subprocess.Popen(second, stdin=producer.stdout, stdout=log, stderr=log)
    finally:
        if producer.stdout is not None:  # always: stdout=PIPE
            producer.stdout.close()
    with _sampled([producer.pid, consumer.pid]) as peak_kb:
        code2 = consumer.wait()
        code1 = producer.wait()
    for argv, code in ((first, code1), (second, code2)):
        if code != 0:
            raise WorkflowFailed(f"{argv[0]} failed (exit {code}); see the step's log")
    return _note(peak_kb[0])


def version(argv: Sequence[str]) -> str:
    """The first non-empty line a tool prints for its version (or why it could not)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        if line.strip():
            return line.strip()
    return "unknown"
