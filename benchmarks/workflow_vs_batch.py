"""Wall time, CPU time and peak memory of a localgene job vs ``cnvkit.py batch -p N``, same data.

    .venv/bin/python benchmarks/workflow_vs_batch.py [--data DIR] [--cores 2] [--repeat 1]
                                                     [--cold] [--workflow DIR]

Both runs use the same data (``--data``: the demo data set, built if missing, or a data set of
``benchmarks/scale_data.py``, used as it is), the same bin sizes (target ``-a``, antitarget
``-a`` given explicitly so that batch's autobin does not choose its own), the same annotation
and the same cores. Prints one line per run and the ratio of wall times (CPU seconds: user +
system of every process each run started; peak: the largest single process). ``--cold`` also
runs the job with ``LOCALGENE_WARM=0`` (every CNVkit step its own ``cnvkit.py`` process, no step
server); ``--workflow`` runs the Snakefile of another checkout (``LOCALGENE_WORKFLOW_DIR``).
After each localgene run the slowest steps of its timeline (results/job.json) are listed, and
its phases: when the checks were done (the job folder written), Snakemake up, its DAG built,
the first step's start, the last step's end and the exit, in seconds from the command's start.
Timings are figures to read, not to assert: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
TARGET_AVG, ANTITARGET_AVG = 267, 150000


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of the largest process the command started."""
    runner = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(u.ru_utime + u.ru_stime, u.ru_maxrss, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", runner, *argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{proc.stderr[-2000:]}")
    cpu, peak_kb = proc.stderr.strip().splitlines()[-1].split()
    return wall, float(cpu), int(peak_kb) / 1024


def slowest_steps(home: Path, count: int = 5) -> str:
    """The job's costliest steps from its timeline, e.g. ``segment[T1] 2.1 s``."""
    summary = next(home.glob("jobs/*/results/job.json"), None)
    if summary is None:
        return "(no timeline)"
    steps = sorted(json.loads(summary.read_text()).get("timeline", []), key=lambda r: -r["wall_s"])
    return ", ".join(f"{r['step']}{list(r['wildcards'].values()) or ''} {r['wall_s']:.1f} s"
                     for r in steps[:count])


def phases(home: Path, started: float, ended: float) -> str:
    """Where the job's wall time went, in seconds from the command's start: the job folder
    written (checks done), Snakemake's logger up (its imports done), its DAG built, the first
    step's start, the last step's end, the command's exit."""
    job = next(home.glob("jobs/*"), None)
    if job is None:
        return "(no job folder)"
    events = [json.loads(line) for line in (job / ".snakemake/localgene/events.jsonl").read_text().splitlines()]
    steps = [json.loads(line) for line in (job / "logs/timeline.jsonl").read_text().splitlines()]
    first = {e["event"]: e["time"] for e in reversed(events)}
    marks = [("checked", (job / "config.json").stat().st_mtime), ("snakemake up", first.get("logger_started")),
             ("DAG", first.get("run_info")), ("first step", min(r["start"] for r in steps)),
             ("last step", max(r["end"] for r in steps)), ("exit", ended)]
    return ", ".join(f"{name} {t - started:.1f}" for name, t in marks if t is not None)


def show(name: str, figures: tuple[float, float, float]) -> str:
    wall, cpu, peak = figures
    return f"{name} {wall:6.1f} s wall, {cpu:6.1f} s CPU, peak {peak:5.0f} MB"


def compile_bytecode(tree: Path) -> None:
    """localgene's bytecode, as an installed package (and ``make setup``) has it: where
    PYTHONDONTWRITEBYTECODE is set, every process of a job would otherwise compile localgene's
    modules again (~0.25 s each), while CNVkit's came compiled with its wheel."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "localgene")],
                   stdout=subprocess.DEVNULL, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / "tests" / ".data" / "demo")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cold", action="store_true", help="also run the job with LOCALGENE_WARM=0")
    ap.add_argument("--workflow", type=Path, help="run the Snakefile of this checkout")
    args = ap.parse_args()

    from localgene.demo.cnvkit import generate

    manifest = args.data / "manifest.json"
    made_by = json.loads(manifest.read_text()).get("generator") if manifest.is_file() else None
    if made_by == "benchmarks/scale_data.py":
        print(f"data: {args.data} (benchmarks/scale_data.py, {json.loads(manifest.read_text())['reads']} reads)")
    else:  # the demo data set (built if missing)
        generate(args.data)
    body = json.loads((args.data / "job.json").read_text())
    body["target_conf"] = f"{body.get('target_conf', '')} -a {TARGET_AVG}".strip()
    body["antitarget_conf"] = f"-a {ANTITARGET_AVG}"
    bin_dir = Path(sys.executable).parent
    compile_bytecode(HERE)
    extra = {"LOCALGENE_WORKFLOW_DIR": str(args.workflow.resolve())} if args.workflow else {}

    rows = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            job = dict(body, output_dir=str(scratch / "out"))
            (scratch / "job.json").write_text(json.dumps(job))
            runs = {"localgene run": {}} | ({"localgene run (LOCALGENE_WARM=0)": {"LOCALGENE_WARM": "0"}}
                                           if args.cold else {})
            figures = {}
            for name, setting in runs.items():
                home = scratch / f"home-{len(figures)}"
                env = dict(os.environ, LOCALGENE_HOME=str(home), **extra, **setting)
                if not setting:
                    env.pop("LOCALGENE_WARM", None)
                started = time.time()
                figures[name] = timed([str(bin_dir / "localgene"), "run", str(scratch / "job.json"),
                                       "--cores", str(args.cores)], env)
                print(f"run {i + 1}: {show(name, figures[name])}; slowest steps: {slowest_steps(home)}")
                print(f"run {i + 1}: {name} phases (s from start): {phases(home, started, time.time())}")
            batch = timed([
                str(bin_dir / "cnvkit.py"), "batch", *body["experimental_inputs"],
                "-n", *body["control_inputs"], "-t", body["bed"], "-f", body["ref"],
                "--annotate", body["annotation_file"], "--target-avg-size", str(TARGET_AVG),
                "--antitarget-avg-size", str(ANTITARGET_AVG), "-p", str(args.cores),
                "-d", str(scratch / "batch"), "--output-reference", str(scratch / "batch" / "reference.cnn"),
            ])
            print(f"run {i + 1}: {show(f'cnvkit.py batch -p {args.cores}', batch)}")
            for name, fig in figures.items():
                print(f"run {i + 1}: {name} / batch: wall {fig[0] / batch[0]:.2f}x, CPU {fig[1] / batch[1]:.2f}x, "
                      f"peak memory {fig[2] / batch[2]:.2f}x")
            rows.append((figures["localgene run"], batch))
    lg_best = min(r[0][0] for r in rows)
    batch_best = min(r[1][0] for r in rows)
    samples = len(body["experimental_inputs"]) + len(body["control_inputs"])
    print(f"best of {args.repeat}: localgene {lg_best:.1f} s, batch {batch_best:.1f} s, "
          f"ratio {lg_best / batch_best:.2f}x ({samples} BAMs, {args.cores} cores)")


if __name__ == "__main__":
    main()
