"""The local executor: Snakemake runs every step on this machine with ``--cores N``."""

from __future__ import annotations

from pathlib import Path

NAME = "local"


class LocalExecutor:
    job_overhead_mb = 0

    def snakemake_args(self, execution, job_dir: Path, cores: int) -> list[str]:
        return ["--cores", str(cores)]

    def keep_line(self, line: str) -> bool:
        return True

    def watch(self, execution, on_lost):
        return None

    def stop_leftovers(self, events) -> list[str]:
        return []  # Snakemake's own cancel ends its steps (and the job process its group)

    def sweep(self, events) -> list[str]:
        return []
