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


def bcftools_count(vcf: str | Path, *view: str) -> int:
    """Records ``bcftools view -H <view options>`` prints of ``vcf``."""
    proc = subprocess.run(["bcftools", "view", "-H", *view, str(vcf)], capture_output=True, text=True, check=True)
    return len(proc.stdout.splitlines())


def number(text: str) -> float:
    return float(text.replace(",", ""))


def check_report_counts(opened: dict, vcf: str | Path, sets: dict[str, tuple[str, ...]]) -> None:
    """The report's counts by type equal ``bcftools view -H`` counts of the delivered VCF, for
    each set label -> the view options that select it."""
    from browser_helpers import table_rows

    rows = {r["set"]: r for r in table_rows(opened, ".variant-counts")}
    for label, view in sets.items():
        r = rows[label]
        assert number(r["records"]) == bcftools_count(vcf, *view), label
        assert number(r["SNV"]) == bcftools_count(vcf, *view, "-v", "snps"), label
        assert number(r["indel"]) == bcftools_count(vcf, *view, "-v", "indels"), label
        assert number(r["MNP"]) == bcftools_count(vcf, *view, "-v", "mnps"), label
        if number(r["Tv"]):
            assert abs(number(r["Ts/Tv"]) - number(r["Ts"]) / number(r["Tv"])) < 0.01, label
