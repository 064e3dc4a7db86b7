"""The demo job with --executor slurm against the same job run locally, on the test cluster.

    .venv/bin/python benchmarks/slurm.py [--repeat 1] [--cores 2] [--data DIR] [--profile DIR]

Starts (or reuses) the single-node SLURM cluster of tests/hpc/slurm_cluster.py (root; Debian
slurm-wlm and munge, as `make test` installs them), builds the demo data if missing, then runs
`localgene run job.json` one after the other: locally, and with `--executor slurm` and the test
site profile (tests/hpc/profiles/fast: squeue polled every second). Each run gets a fresh
LOCALGENE_HOME. Prints per run: wall time and the load average before it; for the SLURM run the
number of SLURM jobs and the seconds they spent from start to end (jobcomp log), in total and
per job, and one line per SLURM job: its group, when it started and ended after the run began
and the pause before it (config/slurm groups the CNVkit steps: each SLURM job's script runs its
steps itself, docs/hpc.md "Inside a SLURM job"); then the SLURM/local wall ratio. `--profile`
lays another site profile over config/slurm (e.g. other groups). Timings are figures to read,
not to assert: the machine may be shared. A cluster this script started is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests" / "hpc"))

import slurm_cluster  # noqa: E402

LOCALGENE = [sys.executable, "-m", "localgene"]
_SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+)")
# "... submitted with SLURM jobid 2 (log: .../slurm_logs/group_coverage_coverage/2.log)"
_SUBMITTED_AS = re.compile(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/(?:rule|group)_([^/_]+)")


def run_demo(job: Path, home: Path, env: dict[str, str], cores: int, slurm: bool) -> dict:
    argv = [*LOCALGENE, "run", str(job), "--cores", str(cores)] + (["--executor", "slurm"] if slurm else [])
    env = dict(env, LOCALGENE_HOME=str(home))
    started = time.monotonic()
    began = datetime.now().replace(microsecond=0)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{'slurm' if slurm else 'local'} run failed:\n{proc.stderr[-3000:]}")
    instance_id = re.search(r"^instance_id: (\S+)$", proc.stdout, re.M).group(1)
    log = (home / "jobs" / instance_id / "logs" / "snakemake.log").read_text()
    return {"wall": wall, "slurm_jobs": _SUBMITTED.findall(log), "names": dict(_SUBMITTED_AS.findall(log)),
            "began": began}


def slurm_seconds(cluster, jobs: list[str]) -> float:
    """Summed start-to-end seconds of these SLURM jobs, from the job-completion log."""
    comp = cluster.jobcomp()
    total = 0.0
    for job in jobs:
        rec = comp.get(job, {})
        if "StartTime" in rec and "EndTime" in rec:
            start = datetime.fromisoformat(rec["StartTime"])
            end = datetime.fromisoformat(rec["EndTime"])
            total += (end - start).total_seconds()
    return total


def job_lines(cluster, res: dict) -> list[str]:
    """One line per SLURM job of a run: its group (or step), when it started and ended after the
    run began, and the pause before it (since the previous job ended, or since the run began)."""
    comp = cluster.jobcomp()
    lines, last_end = [], 0.0
    for job in res["slurm_jobs"]:
        rec = comp.get(job, {})
        if "StartTime" not in rec or "EndTime" not in rec:
            continue
        start = (datetime.fromisoformat(rec["StartTime"]) - res["began"]).total_seconds()
        end = (datetime.fromisoformat(rec["EndTime"]) - res["began"]).total_seconds()
        lines.append(f"    SLURM job {job:>4s} {res['names'].get(job, '?'):10s} {start:5.0f} s -> {end:5.0f} s "
                     f"({end - start:4.0f} s; {max(0.0, start - last_end):3.0f} s after the previous one ended)")
        last_end = max(last_end, end)
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--data", type=Path, default=HERE / "tests" / ".data" / "demo")
    ap.add_argument("--profile", type=Path, default=HERE / "tests" / "hpc" / "profiles" / "fast",
                    help="site profile laid over config/slurm (default: the test cluster's)")
    args = ap.parse_args()

    if not (args.data / "job.json").exists():
        subprocess.run([*LOCALGENE, "demo-data", str(args.data)], check=True)
    running = slurm_cluster.status()
    cluster = running or slurm_cluster.start()
    try:
        env = dict(cluster.env, LOCALGENE_PROFILE=str(args.profile.resolve()))
        env.pop("LOCALGENE_EXECUTOR", None)
        figures: dict[str, list[float]] = {"local": [], "slurm": []}
        with tempfile.TemporaryDirectory(prefix="lg-bench-slurm-") as tmp:
            for i in range(args.repeat):
                for mode in ("local", "slurm") if i % 2 == 0 else ("slurm", "local"):
                    folder = Path(tmp) / f"{mode}-{i}"
                    folder.mkdir()
                    body = json.loads((args.data / "job.json").read_text())
                    body["output_dir"] = str(folder / "out")
                    job = folder / "job.json"
                    job.write_text(json.dumps(body))
                    load = os.getloadavg()[0]
                    res = run_demo(job, folder / "home", env, args.cores, mode == "slurm")
                    figures[mode].append(res["wall"])
                    line = f"{mode:5s} run {i + 1}: {res['wall']:6.1f} s wall, load before {load:.1f}"
                    if mode == "slurm":
                        in_slurm = slurm_seconds(cluster, res["slurm_jobs"])
                        n = len(res["slurm_jobs"])
                        line += f", {n} SLURM jobs: {in_slurm:.0f} s inside them ({in_slurm / max(n, 1):.1f} s each)"
                    print(line, flush=True)
                    if mode == "slurm":
                        print("\n".join(job_lines(cluster, res)), flush=True)
        local = sum(figures["local"]) / len(figures["local"])
        slurm = sum(figures["slurm"]) / len(figures["slurm"])
        print(f"mean: local {local:.1f} s, slurm {slurm:.1f} s, ratio slurm/local {slurm / local:.2f}x")
    finally:
        if running is None:
            slurm_cluster.stop(cluster.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
