"""CPU and wall time of coverage on one BAM: CNVkit's own, localgene's engine, and the floor.

    .venv/bin/python benchmarks/coverage.py [--bam BAM] [--threads 1] [--min-mapq 10] [--repeat 1]

The BAM defaults to N1 of the large data set of benchmarks/scale_data.py (5.6 M reads; built
into tests/.data/scale20 if missing); the bins are the demo job's (``cnvkit.py target --split
--annotate``, ``antitarget``), built once into a scratch folder. Three measurements, in one
run, each one after the other:

* ``cnvkit.py coverage`` of the target bins, then of the antitarget bins (two processes, as
  the workflow ran them before; ``-p`` = threads);
* localgene's engine (:func:`localgene.cnvkit.coverage_engine.compute`) writing both ``.cnn`` in one
  process: the guard pass (``samtools view -c -e 'rlen==0'``), one mosdepth pass and CNVkit's
  table code, CNVkit's import included; and, on their own, the two passes it makes over the BAM;
* ``samtools view -c`` of the BAM with the same threads: the cost of decoding it once.

Prints CPU seconds (user + system of the processes) and wall seconds of each, and their ratios
to ``samtools view -c``; checks the engine's ``.cnn`` are byte-identical to CNVkit's. Figures
to read, not to assert: the machine is shared.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
BIN = Path(sys.executable).parent

ENGINE = """
import sys
from localgene.cnvkit import coverage_engine as e
bam, tb, ab, out, q, threads = sys.argv[1:7]
opts = ["-q", q] + (["-p", threads] if int(threads) > 1 else [])
jobs = [e.CoverageJob(k, b, f"{out}/{k}.cnn", ["coverage", bam, b, *opts, "-o", f"{out}/{k}.cnn"])
        for k, b in (("target", tb), ("antitarget", ab))]
with open(f"{out}/target.log", "w") as t, open(f"{out}/antitarget.log", "w") as a:
    code = e.compute(bam, jobs, {"target": t, "antitarget": a},
                     {"min_mapq": int(q), "bam_or_bg_file": bam}, threads=int(threads))
sys.exit(code)
"""


def measured(*commands: list[str], env: dict | None = None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of running the commands one after the other."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for argv in commands:
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(map(str, argv))}\n{proc.stderr[-2000:]}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def make_bins(data: Path, out: Path) -> tuple[Path, Path]:
    cnvkit = str(BIN / "cnvkit.py")
    target, antitarget = out / "t.target.bed", out / "t.antitarget.bed"
    for argv in (["access", data / "genome.fa", "-o", out / "access.bed"],
                 ["target", data / "targets.bed", "--split", "--annotate", data / "refFlat.txt", "-o", target],
                 ["antitarget", target, "-g", out / "access.bed", "-o", antitarget]):
        subprocess.run([cnvkit, *map(str, argv)], check=True, capture_output=True)
    return target, antitarget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bam", type=Path, help="default: N1 of benchmarks/scale_data.py (tests/.data/scale20)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-mapq", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    if args.bam is None:
        import scale_data

        data = HERE / "tests" / ".data" / "scale20"
        scale_data.generate(data, samples=["N1"])
        args.bam = data / "N1.bam"
    data = args.bam.parent
    env = dict(os.environ, PYTHONPATH=f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    idxstats = subprocess.run(["samtools", "idxstats", str(args.bam)], capture_output=True, text=True, check=True)
    reads = sum(int(f[2]) + int(f[3]) for f in (line.split("\t") for line in idxstats.stdout.splitlines()))
    t = args.threads
    q = str(args.min_mapq)
    with tempfile.TemporaryDirectory(dir=data, prefix=".bench-coverage-") as scratch:
        scratch = Path(scratch)
        target, antitarget = make_bins(data if (data / "genome.fa").exists() else HERE / "tests/.data/demo", scratch)
        print(f"BAM {args.bam} ({reads:,} reads), {sum(1 for _ in open(target))} target + "
              f"{sum(1 for _ in open(antitarget))} antitarget bins, -q {q}, threads {t}")
        opts = ["-q", q] + (["-p", str(t)] if t > 1 else [])
        for run in range(1, args.repeat + 1):
            (scratch / "cnvkit").mkdir(exist_ok=True)
            (scratch / "engine").mkdir(exist_ok=True)
            floor = measured(["samtools", "view", "-c", "-@", str(t - 1), str(args.bam)])
            cnvkit = measured(*[[str(BIN / "cnvkit.py"), "coverage", str(args.bam), str(b), *opts,
                                 "-o", str(scratch / "cnvkit" / f"{k}.cnn")]
                                for k, b in (("target", target), ("antitarget", antitarget))])
            ours = measured([sys.executable, "-c", ENGINE, str(args.bam), str(target), str(antitarget),
                             str(scratch / "engine"), q, str(t)], env=env)
            first = (scratch / "engine" / "target.log").read_text().splitlines()[0]
            passes = measured(
                ["samtools", "view", "-c", "-F", "1796", "-q", q, "-e", "rlen==0", "-@", str(t - 1), str(args.bam)],
                ["sh", "-c", f"cat {target} {antitarget} | cut -f1-3 | sort -k1,1 -k2,2n > {scratch}/both.bed && "
                             f"MOSDEPTH_PRECISION=10 mosdepth -n -x -F 1796 -Q {q} -t {t - 1} "
                             f"--by {scratch}/both.bed {scratch}/md {args.bam}"])
            same = all(filecmp.cmp(scratch / "cnvkit" / f"{k}.cnn", scratch / "engine" / f"{k}.cnn", shallow=False)
                       for k in ("target", "antitarget"))
            print(f"run {run}:")
            for name, (cpu, wall) in (("samtools view -c (floor)", floor),
                                      ("cnvkit.py coverage, target + antitarget", cnvkit),
                                      ("localgene engine, both .cnn", ours),
                                      ("  of which guard + mosdepth passes", passes)):
                print(f"  {name:42s} cpu {cpu:6.2f} s ({cpu / floor[0]:5.2f}x)   wall {wall:6.2f} s "
                      f"({wall / floor[1]:5.2f}x)")
            print(f"  engine used: {'mosdepth' if 'mosdepth' in first else 'cnvkit'}; "
                  f".cnn byte-identical to cnvkit.py coverage: {same}; "
                  f"engine vs cnvkit.py: cpu {ours[0] / cnvkit[0]:.2f}x, wall {ours[1] / cnvkit[1]:.2f}x")


if __name__ == "__main__":
    main()
