"""Running a step's tools: argument lists, no shell, the exact command first in the step's log."""

from __future__ import annotations

import shlex
import subprocess
from typing import IO, Sequence

from localgene.errors import WorkflowFailed


def command_line(argv: Sequence[str]) -> str:
    return shlex.join([str(a) for a in argv])


def run(argv: Sequence[str], log: IO[str], *, stdout: IO[bytes] | None = None) -> None:
    """Run ``argv``; stderr (and stdout unless redirected) go to ``log`` after a ``$ cmd`` line."""
    argv = [str(a) for a in argv]
    log.write(f"$ {command_line(argv)}\n")
    log.flush()
    code = subprocess.run(
        argv, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else log, stderr=log
    ).returncode
    if code != 0:
        raise WorkflowFailed(f"{argv[0]} failed (exit {code}); see the step's log")


def pipe(first: Sequence[str], second: Sequence[str], log: IO[str]) -> None:
    """``first | second`` as two processes, both stderr to ``log`` after a ``$ a | b`` line."""
    first, second = [str(a) for a in first], [str(a) for a in second]
    log.write(f"$ {command_line(first)} | {command_line(second)}\n")
    log.flush()
    producer = subprocess.Popen(first, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    try:
        consumer = subprocess.Popen(second, stdin=producer.stdout, stdout=log, stderr=log)
    finally:
        producer.stdout.close()
    code2 = consumer.wait()
    code1 = producer.wait()
    for argv, code in ((first, code1), (second, code2)):
        if code != 0:
            raise WorkflowFailed(f"{argv[0]} failed (exit {code}); see the step's log")


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
