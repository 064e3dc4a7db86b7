"""Helpers for the tests that run the real workflow on the demo data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

LOCALGENE = [sys.executable, "-m", "localgene"]


@dataclass
class Run:
    instance_id: str
    job_dir: Path
    delivered: Path
    stdout: str
    stderr: str

    @property
    def results(self) -> Path:
        return self.job_dir / "results"

    def summary(self) -> dict:
        return json.loads((self.results / "job.json").read_text())


def run_job(body: dict, home: Path, cores: int = 2) -> Run:
    """``localgene run`` as a user runs it; fails the test with its error on failure."""
    home.mkdir(parents=True, exist_ok=True)
    job = home / f"job-{len(list(home.glob('job-*.json')))}.json"
    job.write_text(json.dumps(body))
    env = dict(os.environ, LOCALGENE_HOME=str(home))
    proc = subprocess.run([*LOCALGENE, "run", str(job), "--cores", str(cores)],
                          capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, f"localgene run failed:\n{proc.stderr[-3000:]}"
    instance_id = re.search(r"^instance_id: (\S+)$", proc.stdout, re.M).group(1)
    job_dir = Path(re.search(r"^job folder:\s+(\S+)$", proc.stdout, re.M).group(1))
    delivered = Path(body["output_dir"]) / instance_id
    return Run(instance_id, job_dir, delivered, proc.stdout, proc.stderr)


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def assert_same_table(ours: Path, theirs: Path, float_tol: float = 0.0) -> None:
    """Two CNVkit tables hold the same columns and rows (floats within ``float_tol`` if given)."""
    a, b = read_table(ours), read_table(theirs)
    assert sorted(a.columns) == sorted(b.columns), (ours, list(a.columns), list(b.columns))
    assert len(a) == len(b), ours
    for col in b.columns:
        if pd.api.types.is_float_dtype(b[col]) and float_tol:
            assert (a[col] - b[col]).abs().max() <= float_tol, (ours, col)
        else:
            pd.testing.assert_series_equal(a[col], b[col], check_names=False, obj=f"{ours.name}:{col}")


def overlap_cn(segments: pd.DataFrame, chrom: str, start: int, end: int) -> float:
    """Copy number over a region, weighted by how many bases each segment covers of it."""
    seg = segments[(segments.chromosome == chrom) & (segments.end > start) & (segments.start < end)]
    bases = (seg.end.clip(upper=end) - seg.start.clip(lower=start)).clip(lower=0)
    assert bases.sum() > 0, f"no segment covers {chrom}:{start}-{end}"
    return float((seg.cn * bases).sum() / bases.sum())


def expected_cn_ok(kind: str, cn: int, observed: float) -> bool:
    if kind == "amplification":
        return observed >= 5
    return round(observed) == cn and abs(observed - cn) < 0.35
