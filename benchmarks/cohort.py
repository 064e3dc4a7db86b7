"""A cohort run: N experimental samples sharing the demo's 3 controls, with and without reuse
of control coverage.

    .venv/bin/python benchmarks/cohort.py [--samples 8] [--slots 1] [--cores 2] [--repeat 1] [--data DIR]
                                          [--modes "no reuse,reuse,one job"] [--batch]

The cohort is the demo data (built if missing) with N experimental BAMs: T1 and T2 copied
under new names (S01.bam, S02.bam, …; CNVkit names samples by file name). Each mode submits
the cohort as one batch (`localgene submit --sample-sheet … --base job.json`: N jobs) into a
fresh LOCALGENE_HOME and runs it with `localgene worker --until-idle` (SLOTS jobs at a time,
CORES each). Mode "no reuse" sets LOCALGENE_COVERAGE_REUSE=0 (every job computes the 3
controls' target and antitarget coverage, 6 CNVkit runs per job); mode "reuse" lets the first
job compute them and every later one copy them from $LOCALGENE_HOME/cache/coverage/.

Mode "one job" submits the cohort as what it is to CNVkit, one copy-number job with the N
experimental BAMs and the 3 controls (``experimental_inputs`` holds all N): one reference, each
BAM's coverage once, then every sample's fix, segment, call and plots (``localgene run``).

``--batch`` adds the baseline a user without localgene has: one ``cnvkit.py batch -p CORES``
per experimental sample (each against the same 3 controls, the same bins and annotation), run
one after the other, and prints the reuse mode's wall and CPU time as a fraction of those runs'
sum. Both use the bin sizes of ``benchmarks/workflow_vs_batch.py`` (given explicitly, so that
batch's autobin does not choose its own).

Prints per mode: wall time, mean seconds per job, CPU seconds of the whole run (the worker and
every process it waited for), control coverage steps computed/reused, the summed time of those
steps (from Snakemake's log), the load average; then the ratios of wall and CPU time (means
over --repeat runs, whose order alternates). Also checks
that every sample's calls (``.call.cns``) are byte-identical in every mode. Timings are
figures to read, not to assert: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from workflow_vs_batch import ANTITARGET_AVG, TARGET_AVG, timed  # noqa: E402  (the same bins and timing)

LOCALGENE = [sys.executable, "-m", "localgene"]
_STEP_TIME = re.compile(r"^\[(.+?)\]$")


def make_cohort(data: Path, folder: Path, n: int) -> Path:
    """N experimental BAMs (copies of T1/T2 under new names) and a sample sheet for them."""
    rows = ["experimental_input"]
    for i in range(n):
        src = data / ("T1.bam" if i % 2 == 0 else "T2.bam")
        dst = folder / f"S{i + 1:02d}.bam"
        shutil.copyfile(src, dst)
        shutil.copyfile(f"{src}.bai", f"{dst}.bai")
        rows.append(str(dst))
    sheet = folder / "cohort.tsv"
    sheet.write_text("\n".join(rows) + "\n")
    return sheet


def coverage_figures(home: Path, controls: list[str]) -> tuple[int, int, float]:
    """(control coverage steps computed, reused, summed seconds of the control coverage steps)."""
    computed = reused = 0
    seconds = 0.0
    for job in (home / "jobs").iterdir():
        for log in (job / "logs" / "coverage").glob("*.log"):
            if log.name.split(".")[0] not in controls:
                continue
            first = log.read_text().splitlines()[:1]
            if first and first[0].startswith("# reused"):
                reused += 1
            else:
                computed += 1
        seconds += _coverage_step_seconds(job / "logs" / "snakemake.log", controls)
    return computed, reused, seconds


def _coverage_step_seconds(log: Path, controls: list[str]) -> float:
    """Sum of (finish - start) of the control coverage steps, from Snakemake's timestamps."""
    rows = log.read_text(errors="replace").splitlines()
    started: dict[str, datetime] = {}
    total = 0.0
    stamp = None
    rule = jobid = None
    for row in rows:
        if m := _STEP_TIME.match(row.strip()):
            try:
                stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
            except ValueError:
                pass
            continue
        s = row.strip()
        if s.startswith("rule ") or s.startswith("localrule "):
            rule = s.split()[1].rstrip(":")
        elif s.startswith("jobid: ") and rule == "coverage":
            jobid = s.split()[1]
        elif s.startswith("wildcards: ") and rule == "coverage" and jobid and stamp:
            if any(f"sample={c}," in s for c in controls):
                started[jobid] = stamp
            rule = jobid = None
        elif s.startswith("Finished job") or s.startswith("Finished jobid:"):
            m = re.search(r"(\d+)", s)
            if m and m.group(1) in started and stamp:
                total += (stamp - started.pop(m.group(1))).total_seconds()
    return total


def run_mode(name: str, sheet: Path, base: Path, root: Path, *, reuse: bool, slots: int, cores: int,
             tag: str = "") -> dict:
    home = root / (name.replace(" ", "-") + tag)
    env = dict(os.environ, LOCALGENE_HOME=str(home), LOCALGENE_COVERAGE_REUSE="1" if reuse else "0",
               MPLBACKEND="Agg")
    submit = subprocess.run([*LOCALGENE, "submit", "--sample-sheet", str(sheet), "--base", str(base)],
                            capture_output=True, text=True, env=env)
    if submit.returncode != 0:
        sys.exit(f"submit failed: {submit.stderr}")
    ids = submit.stdout.split()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    worker = subprocess.run([*LOCALGENE, "worker", "--until-idle", "--slots", str(slots), "--cores", str(cores)],
                            capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the worker and everything it waited for (runners, Snakemake, CNVkit):
    # less sensitive than wall time to other load on a shared machine.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if worker.returncode != 0:
        sys.exit(f"worker failed: {worker.stderr[-2000:]}")
    listing = subprocess.run([*LOCALGENE, "list", "--table", "--limit", "100", "--ids", "-"],
                             input="\n".join(ids), capture_output=True, text=True, env=env).stdout
    failed = [line for line in listing.splitlines() if " FINISHED " not in line and line[:1].isalnum()
              and not line.startswith("INSTANCE_ID")]
    if failed:
        sys.exit(f"{name}: jobs did not finish:\n" + "\n".join(failed))
    computed, reused, cov_s = coverage_figures(home, ["N1", "N2", "N3"])
    calls = {}
    for job in (home / "jobs").iterdir():
        for f in (job / "results" / "samples").glob("*.call.cns"):
            calls[f.name] = f.read_bytes()
    return {"mode": name, "jobs": len(ids), "wall_s": wall, "per_job_s": wall / len(ids), "cpu_s": cpu,
            "control_coverage_computed": computed, "control_coverage_reused": reused,
            "control_coverage_step_s": cov_s, "calls": calls}


def run_one_job(sheet: Path, body: dict, root: Path, cores: int, tag: str = "") -> dict:
    """The whole cohort as one CNVkit job (N experimental BAMs, the same controls)."""
    home = root / f"one-job{tag}"
    job = dict(body, experimental_inputs=sheet.read_text().split()[1:])
    job_file = root / f"one-job{tag}.json"
    job_file.write_text(json.dumps(job))
    env = dict(os.environ, LOCALGENE_HOME=str(home), MPLBACKEND="Agg")
    wall, cpu, peak = timed([str(Path(sys.executable).parent / "localgene"), "run", str(job_file),
                             "--cores", str(cores)], env)
    calls = {f.name: f.read_bytes() for f in home.glob("jobs/*/results/samples/*.call.cns")}
    return {"mode": "one job", "jobs": 1, "wall_s": wall, "per_job_s": wall, "cpu_s": cpu, "peak_mb": peak,
            "control_coverage_computed": 3, "control_coverage_reused": 0, "control_coverage_step_s": 0.0,
            "calls": calls}


def run_batches(sheet: Path, body: dict, root: Path, cores: int) -> dict:
    """One ``cnvkit.py batch`` per experimental sample of the sheet, one after the other."""
    bams = sheet.read_text().split()[1:]
    wall = cpu = 0.0
    peak = 0.0
    for bam in bams:
        out = root / "batch" / Path(bam).stem
        out.parent.mkdir(parents=True, exist_ok=True)  # CNVkit makes -d itself, not its parents
        w, c, m = timed([
            str(Path(sys.executable).parent / "cnvkit.py"), "batch", bam, "-n", *body["control_inputs"],
            "-t", body["bed"], "-f", body["ref"], "--annotate", body["annotation_file"],
            "--target-avg-size", str(TARGET_AVG), "--antitarget-avg-size", str(ANTITARGET_AVG),
            "-p", str(cores), "-d", str(out), "--output-reference", str(out / "reference.cnn"),
        ])
        wall, cpu, peak = wall + w, cpu + c, max(peak, m)
    return {"runs": len(bams), "wall_s": wall, "cpu_s": cpu, "peak_mb": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / "tests" / ".data" / "demo")
    ap.add_argument("--samples", type=int, default=8, help="experimental samples (jobs) in the cohort")
    ap.add_argument("--slots", type=int, default=1, help="jobs at once (worker slots)")
    ap.add_argument("--cores", type=int, default=2, help="cores per job")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each mode, alternating their order")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--batch", action="store_true", help="also time one cnvkit.py batch per sample (the baseline)")
    ap.add_argument("--modes", default="no reuse,reuse",
                    help='comma-separated modes among "no reuse", "reuse", "one job" (default: the first two)')
    args = ap.parse_args()

    from localgene.demo.cnvkit import generate

    generate(args.data)
    root = Path(tempfile.mkdtemp(prefix="lg-cohort-"))
    try:
        base_body = json.loads((args.data / "job.json").read_text())
        base_body["output_dir"] = str(root / "output")
        base_body["target_conf"] = f"{base_body.get('target_conf', '')} -a {TARGET_AVG}".strip()
        base_body["antitarget_conf"] = f"-a {ANTITARGET_AVG}"
        base = root / "base.json"
        base.write_text(json.dumps(base_body, indent=2))
        sheet = make_cohort(args.data, root, args.samples)
        print(f"cohort: {args.samples} experimental samples x 3 controls (N1..N3), demo data; "
              f"worker: {args.slots} slot(s) x {args.cores} core(s); cpus: {os.cpu_count()}")
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        unknown = set(modes) - {"no reuse", "reuse", "one job"}
        if unknown or not modes:
            sys.exit(f"--modes: unknown mode(s) {sorted(unknown)}; choose among no reuse, reuse, one job")
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for rep in range(args.repeat):
            # Alternate the order, so that a change of the machine's load hits every mode.
            for name in modes if rep % 2 == 0 else modes[::-1]:
                if name == "one job":
                    r = run_one_job(sheet, base_body, root, args.cores, tag=f"-{rep}")
                else:
                    r = run_mode(name, sheet, base, root, reuse=name == "reuse", slots=args.slots,
                                 cores=args.cores, tag=f"-{rep}")
                runs[name].append(r)
                print(f"{name:9}  wall {r['wall_s']:7.1f} s  per job {r['per_job_s']:5.1f} s  "
                      f"cpu {r['cpu_s']:7.1f} s  control coverage computed {r['control_coverage_computed']:3d} "
                      f"reused {r['control_coverage_reused']:3d}  (control coverage steps "
                      f"{r['control_coverage_step_s']:.0f} s)  load {os.getloadavg()[0]:.1f}", flush=True)
        mean = {m: {k: sum(r[k] for r in runs[m]) / args.repeat for k in ("wall_s", "cpu_s")} for m in modes}
        if "no reuse" in mean and "reuse" in mean:
            off, on = mean["no reuse"], mean["reuse"]
            print(f"mean of {args.repeat}: wall no reuse {off['wall_s']:.1f} s, reuse {on['wall_s']:.1f} s, "
                  f"ratio {off['wall_s'] / on['wall_s']:.2f}; cpu no reuse {off['cpu_s']:.1f} s, "
                  f"reuse {on['cpu_s']:.1f} s, ratio {off['cpu_s'] / on['cpu_s']:.2f}")
            print(f"saved per job after the first: wall {(off['wall_s'] - on['wall_s']) / max(1, args.samples - 1):.1f} s, "
                  f"cpu {(off['cpu_s'] - on['cpu_s']) / max(1, args.samples - 1):.1f} s")
        if args.batch:
            b = run_batches(sheet, base_body, root, args.cores)
            print(f"cnvkit.py batch x {b['runs']}  wall {b['wall_s']:7.1f} s  cpu {b['cpu_s']:7.1f} s  "
                  f"load {os.getloadavg()[0]:.1f}")
            for m in modes:
                print(f"{m} / {b['runs']} batch runs: wall {mean[m]['wall_s'] / b['wall_s']:.2f}x, "
                      f"cpu {mean[m]['cpu_s'] / b['cpu_s']:.2f}x")
        all_calls = [r["calls"] for rs in runs.values() for r in rs]
        if len(all_calls) < 2:
            print(f"calls: one run only, nothing to compare ({len(all_calls[0])} samples)")
            return
        same = all(c == all_calls[0] for c in all_calls) and len(all_calls[0]) == args.samples
        print(f"calls identical in every run: {same} ({len(all_calls[0])} samples, {len(all_calls)} runs)")
        if not same:
            sys.exit(1)
    finally:
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
