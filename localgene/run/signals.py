"""Stop signals of a job process, and the processes of its group.

``localgene run`` and ``python -m localgene.run.runner`` (a worker's job process) treat SIGINT,
SIGTERM and SIGHUP alike: :func:`stop_signals` turns each into :class:`Stopped` (a
``KeyboardInterrupt`` carrying the signal) in the main thread, and the workflow runner then
cancels the job (docs/jobs.md, "Stop signals").
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """The job process got a stop signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def signal_name(exc: BaseException) -> str:
    """SIGINT for a plain KeyboardInterrupt (Ctrl-C), else the signal :class:`Stopped` carries."""
    return exc.name if isinstance(exc, Stopped) else "SIGINT"


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
    """Within the block, SIGINT/SIGTERM/SIGHUP raise :class:`Stopped` in the main thread.

    Yields the list of signals received (first one first). Previous handlers are restored.
    """
    received: list[int] = []

    def handler(signum, frame):  # noqa: ARG001
        received.append(signum)
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every live, non-zombie process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return found


def group_members(pgid: int, exclude: int | None = None) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid`` on this machine.

    With ``exclude`` (this process, a member of the group itself), only the processes that
    descend from it or were orphaned (re-parented to init) count: the job's own processes, not
    those the shell put in the same group (``localgene run job.json | tee log``)."""
    table = _processes()
    members = [pid for pid, (_, group) in table.items() if group == pgid and pid != exclude]
    if exclude is None:
        return members

    def ours(pid: int) -> bool:
        if table[pid][0] in (0, 1):
            return True  # orphaned: its parent in the job (Snakemake) is gone
        seen = set()
        while pid in table and pid not in seen:
            seen.add(pid)
            parent = table[pid][0]
            if parent == exclude:
                return True
            pid = parent
        return False

    return [pid for pid in members if ours(pid)]


def signal_members(pgid: int, sig: int, exclude: int | None = None) -> list[int]:
    """Send ``sig`` to each member of ``pgid`` (see :func:`group_members`); the pids signalled."""
    sent = []
    for pid in group_members(pgid, exclude):
        try:
            os.kill(pid, sig)
            sent.append(pid)
        except (ProcessLookupError, PermissionError):
            continue
    return sent
