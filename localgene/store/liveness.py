"""Whether a job's recorded runner is still alive: its host, boot and process group."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def this_host() -> str:
    return socket.gethostname()


def boot_id() -> str | None:
    """Identifies the current boot of this machine (Linux); None where unknown."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine and is not a zombie, or is the leader of
    a process group that still has members (a job's Snakemake and its children)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    except PermissionError:
        alive = True
    if alive:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rpartition(")")[2].split()[0] == "Z":
                alive = False
        except (OSError, IndexError):
            pass
    if alive:
        return True
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError, OSError):
        return False
    # Someone is in the group, but zombies count too: on a machine whose init does not reap
    # orphans (containers, micro-VMs), a killed job's processes stay as zombies for good.
    return _group_has_live_member(pid)


def _group_has_live_member(pgid: int) -> bool:
    """Whether a process that is not a zombie belongs to process group ``pgid`` (from /proc;
    True when /proc cannot be read, so a live job is never judged gone)."""
    try:
        stats = list(Path("/proc").glob("[0-9]*/stat"))
    except OSError:
        return True
    if not stats:
        return True
    for stat in stats:
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False
