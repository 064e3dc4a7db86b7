"""Fixtures of the pipeline tests: the seeded DNA data sets and running a workflow on a body."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "tests" / ".data"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
#: A generous bound for one small job on a loaded 2-core machine (it takes 1-3 minutes alone).
JOB_TIMEOUT = 1800


@pytest.fixture(scope="session")
def dna_germline_data() -> Path:
    """localgene.demodata_dna's germline set (default seed) in tests/.data/dna_germline."""
    from localgene.demodata_dna import generate_germline

    return generate_germline(DATA_DIR / "dna_germline").parent


@pytest.fixture(scope="session")
def dna_somatic_data() -> Path:
    """localgene.demodata_dna's tumor/normal set (default seed) in tests/.data/dna_somatic."""
    from localgene.demodata_dna import generate_somatic

    return generate_somatic(DATA_DIR / "dna_somatic").parent


def run_workflow(body: dict, workdir: Path, cores: int = 2) -> subprocess.CompletedProcess:
    """Run the top-level Snakefile on ``body`` (written to workdir/job.json) in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "job.json"
    config.write_text(json.dumps(body))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(config),
         "--directory", str(workdir), "--cores", str(cores), "-q"],  # fmt: skip
        capture_output=True, text=True, env=env, timeout=JOB_TIMEOUT,
    )  # fmt: skip
