"""Running the RNA_DIFF_EXPR workflow with plain Snakemake, as the tests and benchmark do."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(body: dict, job_dir: Path, cores: int = 2, targets: list[str] | None = None,
              timeout: int = 3600) -> subprocess.CompletedProcess:
    """``snakemake --snakefile Snakefile --configfile <body> --directory <job_dir>``."""
    job_dir.mkdir(parents=True, exist_ok=True)
    config = job_dir.parent / f"{job_dir.name}.body.json"
    config.write_text(json.dumps(body))
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(config),
            "--directory", str(job_dir), "--cores", str(cores), *(targets or [])]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def significant(rows: list[dict[str, str]], alpha: float = 0.05) -> dict[str, float]:
    """gene_id -> log2FoldChange of the genes with padj < alpha."""
    return {r["gene_id"]: float(r["log2FoldChange"]) for r in rows if r["padj"] != "NA" and float(r["padj"]) < alpha}
