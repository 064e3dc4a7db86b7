"""When a fast coverage engine (bincount, mosdepth) may run: options it is proven for, the engine asked for, a small BAM
better left to the warm CNVkit (a step process without CNVkit imported), the tools present, and
the memory it needs against the step's limit (docs/coverage.md, "When CNVkit's own coverage runs
instead")."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from localgene.settings import Environment


def unproven_options(options: dict) -> str | None:
    """Why these parsed coverage options need CNVkit's own coverage, or None."""
    if options.get("count"):
        return "--count is another algorithm (read midpoints), computed by CNVkit itself"
    if options.get("fasta"):
        return "-f/--fasta (CRAM input) is not proven for the mosdepth engine"
    bam = str(options.get("bam_or_bg_file") or "")
    if bam.endswith(".bed.gz"):
        return "a bedGraph input is read by CNVkit itself"
    return None


ENGINES = ("auto", "bincount", "mosdepth", "cnvkit")


def engine_choice(env: Mapping[str, str] | None = None) -> str:
    """``auto`` (default: the fast engine where proven, bincount where it builds, else mosdepth,
    but CNVkit's own for a small BAM when the job's CNVkit step server could run it and this
    process has not imported CNVkit), ``bincount`` or ``mosdepth`` (that fast engine wherever
    proven) or ``cnvkit`` (always CNVkit's own)."""
    raw = Environment.read(env).coverage_engine.strip().lower() or "auto"
    return raw if raw in ENGINES else "auto"


#: Below this BAM size, in a process that has not imported CNVkit while the job's CNVkit step
#: server runs (a coverage step run as its own process beside the server), CNVkit's own coverage
#: through the server costs less than the fast engine, which would import CNVkit's table code
#: (~3.7 s of CPU). Measured (docs/coverage.md): CNVkit's two coverage passes ~0.16 s of CPU per
#: MB of BAM, the fast engine ~0.04 s/MB + the import: even at ~32 MB. A step forked by the
#: server has CNVkit imported already: there the fast engine is the cheaper one at every size.
WARM_CNVKIT_MAX_BYTES = 32 << 20


def cnvkit_imported() -> bool:
    """Whether CNVkit's commands (the fast engine's table code) are imported in this process
    already, as in a step forked by the job's CNVkit step server."""
    return "cnvlib.commands" in sys.modules


def small_bam_with_warm_cnvkit(bam: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why CNVkit's own coverage is the cheaper engine here (``auto`` only), or None."""
    from localgene.cnvkit.step import server_socket

    env = os.environ if env is None else env
    if engine_choice(env) != "auto" or server_socket(env) is None or cnvkit_imported():
        return None
    try:
        size = os.path.getsize(bam)
    except OSError:
        return None
    if size >= WARM_CNVKIT_MAX_BYTES:
        return None
    return (f"a {size / (1 << 20):.1f} MB BAM: CNVkit's own coverage in the job's CNVkit step server "
            f"costs less than mosdepth plus importing CNVkit (below {WARM_CNVKIT_MAX_BYTES >> 20} MB)")


def tools_missing() -> str | None:
    """Why mosdepth/samtools cannot run here, or None."""
    for tool in ("mosdepth", "samtools"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    proc = subprocess.run(["mosdepth", "--version"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        return f"`mosdepth --version` fails ({said[-1] if said else f'exit {proc.returncode}'}; " \
               "Debian's mosdepth needs the libhts-dev package for libhts.so)"
    return None


# -- the bins as samtools bedcov reads them ---------------------------------------------------


MOSDEPTH_BYTES_PER_BASE = 8
MOSDEPTH_BASE_BYTES = 256 << 20


def mosdepth_memory(contigs: dict[str, int]) -> int:
    """Bytes the step needs for mosdepth on this BAM: its longest contig's per-base array, and
    the step's Python process beside it."""
    return MOSDEPTH_BYTES_PER_BASE * max(contigs.values(), default=0) + MOSDEPTH_BASE_BYTES


def memory_limit(threads: int = 1, env: Mapping[str, str] | None = None) -> int | None:
    """The step's memory limit in bytes, if it has one: SLURM's ``SLURM_MEM_PER_NODE`` /
    ``SLURM_MEM_PER_CPU`` (MB) or this process's cgroup limit (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``)."""
    env = os.environ if env is None else env
    limits = []
    with contextlib.suppress(ValueError):
        if env.get("SLURM_MEM_PER_NODE"):
            limits.append(int(env["SLURM_MEM_PER_NODE"]) << 20)
        elif env.get("SLURM_MEM_PER_CPU"):
            limits.append(int(env["SLURM_MEM_PER_CPU"]) * max(1, threads) << 20)
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":  # cgroup v2
                limit_file = Path("/sys/fs/cgroup", path.lstrip("/"), "memory.max")
            elif "memory" in controllers.split(","):  # cgroup v1
                limit_file = Path("/sys/fs/cgroup/memory", path.lstrip("/"), "memory.limit_in_bytes")
            else:
                continue
            with contextlib.suppress(OSError, ValueError):
                raw = limit_file.read_text().strip()
                if raw != "max" and int(raw) < 1 << 60:  # v1 writes "no limit" as a huge number
                    limits.append(int(raw))
    return min(limits) if limits else None


# -- the fast pass ----------------------------------------------------------------------------


