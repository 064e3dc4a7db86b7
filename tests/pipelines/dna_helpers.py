"""Helpers of the pipeline tests: running the top-level Snakefile on a body."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
#: A generous bound for one small job on a loaded 2-core machine (it takes 1-3 minutes alone).
JOB_TIMEOUT = 1800


def run_workflow(body: dict, workdir: Path, cores: int = 2) -> subprocess.CompletedProcess:
    """Run the top-level Snakefile on ``body`` (written to workdir/job.json) in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "job.json"
    config.write_text(json.dumps(body))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(config),
         "--directory", str(workdir), "--cores", str(cores), "-q"],
        capture_output=True, text=True, env=env, timeout=JOB_TIMEOUT, check=False,
    )
