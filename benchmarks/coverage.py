"""CPU and wall time of coverage on one BAM: localgene's engine in the job's step server, CNVkit's
own coverage, and the floor (``samtools view -c`` with the same threads).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/coverage.py [--bam BAM] [--threads 1,2] [--min-mapq 10]
                                                            [--repeat 1]

The BAM defaults to N1 of the large data set of benchmarks/scale_data.py (5.6 M reads; built
into tests/.data/scale20 if missing); the bins are the demo job's (``cnvkit.py target --split
--annotate``, ``antitarget``), built once into a scratch folder. For each thread count, in one
run, one after the other:

* ``samtools view -c -@ T-1`` of the BAM: the cost of decoding it once (the floor);
* localgene's coverage step as a job runs it: the ``coverage`` entry forked by a real CNVkit
  step server (:mod:`localgene.cnvkit.server`, CNVkit imported before the fork, so no import is
  paid), writing both ``.cnn`` with the bincount engine (the default: one bincount pass,
  CNVkit's table code); CPU and wall as the job's timeline records them (``wait4`` of the
  forked step);
* the same engine in a process of its own, CNVkit's import included (a step without a server);
* the bincount pass alone (``bincount -@ T-1``);
* the mosdepth engine in the step server (where bincount cannot be built: guard pass, one
  mosdepth pass, CNVkit's table code), and its two passes over the BAM alone (guard ``samtools
  view -c -e 'rlen==0'`` and mosdepth), as the step runs them with T threads (one after the
  other, or side by side);
* ``cnvkit.py coverage -p T`` of the target bins, then of the antitarget bins (two processes).

Prints CPU seconds (user + system of every process) and wall seconds of each, and their ratios
to ``samtools view -c`` with the same threads; checks that the engine's ``.cnn`` are
byte-identical to CNVkit's; and says whether the issue's figure, coverage of one BAM at most
1.5x ``samtools view -c`` with the same threads, is reached. Figures to read, not to assert: the
machine is shared.
"""

from __future__ import annotations

import argparse
import filecmp
import json
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
TARGET_FIGURE = 1.5  # issue 14: coverage of one BAM <= 1.5x samtools view -c with the same threads

OWN_PROCESS = """
import sys
from localgene.cnvkit import coverage_engine as e
bam, tb, ab, out, q, threads = sys.argv[1:7]
jobs = [e.CoverageJob(k, b, f"{out}/{k}.cnn", ["coverage", bam, b, "-q", q, "-o", f"{out}/{k}.cnn"])
        for k, b in (("target", tb), ("antitarget", ab))]
with open(f"{out}/target.log", "w") as t, open(f"{out}/antitarget.log", "w") as a:
    code = e.compute(bam, jobs, {"target": t, "antitarget": a},
                     {"min_mapq": int(q), "bam_or_bg_file": bam}, threads=int(threads))
sys.exit(code)
"""


def measured(*commands: list[str], env: dict | None = None, together: bool = False) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of running the commands one after the other (or all at once)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    procs = []
    for argv in commands:
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env))
        if not together:
            procs[-1].stderr_text = procs[-1].communicate()[1]
    for proc, argv in zip(procs, commands):
        err = proc.stderr_text if not together else proc.communicate()[1]
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(map(str, argv))}\n{err[-2000:]}")
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


def in_server(bam: Path, target: Path, antitarget: Path, out: Path, q: str, threads: int, env: dict,
              tag: str) -> tuple[float, float, str]:
    """The coverage entry forked by the server (cwd: the server's job folder): CPU, wall, and
    the engine its log names."""
    from localgene.cnvkit.step import run_entry
    from localgene.run import timeline

    out.mkdir(exist_ok=True)
    bins = {"target": str(target), "antitarget": str(antitarget)}
    request = {"sample": "N1", "bam": str(bam), "bai": f"{bam}.bai", "threads": threads, "cache": "", "options": {},
               "bins": bins, "outputs": {k: str(out / f"{k}.cnn") for k in bins},
               "logs": {k: str(out / f"{k}.log") for k in bins},
               "argv": {k: ["coverage", str(bam), b, "-q", q, "-o", str(out / f"{k}.cnn")] for k, b in bins.items()},
               "engine_options": {"min_mapq": int(q)}, "instance_id": "benchmark"}
    code = run_entry("coverage", [json.dumps(request)], str(out / "target.log"), step=tag, env=env)
    if code != 0:
        sys.exit(f"the coverage entry failed ({code}): {(out / 'target.log').read_text()[-2000:]}")
    record = next(r for r in reversed(timeline.read()) if r["step"] == tag)
    first = (out / "target.log").read_text().splitlines()[0]
    named = first.split()[3] if first.startswith("# coverage engine: ") else "cnvkit"
    return record["cpu_s"], record["wall_s"], named


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bam", type=Path, help="default: N1 of benchmarks/scale_data.py (tests/.data/scale20)")
    ap.add_argument("--threads", default="1,2", help="thread counts to measure (comma-separated)")
    ap.add_argument("--min-mapq", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    if args.bam is None:
        import scale_data

        data = HERE / "tests" / ".data" / "scale20"
        scale_data.generate(data, samples=["N1"])
        args.bam = data / "N1.bam"
    args.bam = args.bam.resolve()
    data = args.bam.parent
    env = dict(os.environ, PYTHONPATH=f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               LOCALGENE_COVERAGE_ENGINE="bincount")
    from localgene.cnvkit import coverage_counter

    bincount = str(coverage_counter.binary())
    env.pop("LOCALGENE_WARM", None)
    idxstats = subprocess.run(["samtools", "idxstats", str(args.bam)], capture_output=True, text=True, check=True)
    reads = sum(int(f[2]) + int(f[3]) for f in (line.split("\t") for line in idxstats.stdout.splitlines()))
    thread_counts = [int(t) for t in args.threads.split(",")]
    q = str(args.min_mapq)
    bam = str(args.bam)
    from localgene.cnvkit import server_process

    with tempfile.TemporaryDirectory(dir=data, prefix=".bench-coverage-") as scratch:
        scratch = Path(scratch)
        target, antitarget = make_bins(data if (data / "genome.fa").exists() else HERE / "tests/.data/demo", scratch)
        print(f"BAM {args.bam} ({reads:,} reads), {sum(1 for _ in open(target))} target + "
              f"{sum(1 for _ in open(antitarget))} antitarget bins, -q {q}")
        server = server_process.start(scratch, env, local=True)  # sets env's server socket
        if server is None:
            sys.exit("the CNVkit step server did not start")
        os.chdir(scratch)  # the server's job folder: the steps' working directory and timeline
        from localgene.cnvkit.step import run_cnvkit

        run_cnvkit(["version"], "warm-up.log", env=env)  # answered once the server has imported CNVkit
        verdicts = []
        try:
            for run in range(1, args.repeat + 1):
                for t in thread_counts:
                    at = ["-@", str(t - 1)] if t > 1 else []
                    floor = measured(["samtools", "view", "-c", *at, bam])
                    served = in_server(args.bam, target, antitarget, scratch / f"server{t}", q, t, env,
                                       f"coverage-{run}-{t}")
                    served_md = in_server(args.bam, target, antitarget, scratch / f"servermd{t}", q, t,
                                          dict(env, LOCALGENE_COVERAGE_ENGINE="mosdepth"), f"coverage-md-{run}-{t}")
                    own = scratch / f"own{t}"
                    own.mkdir(exist_ok=True)
                    alone = measured([sys.executable, "-c", OWN_PROCESS, bam, str(target), str(antitarget),
                                      str(own), q, str(t)], env={k: v for k, v in env.items()
                                                                 if not k.startswith("LOCALGENE_CNVKIT_SERVER")})
                    md_t = t - t // 2 if t > 1 else 1
                    guard_at = ["-@", str(t // 2 - 1)] if t // 2 > 1 else []
                    subprocess.run(f"cat {target} {antitarget} | cut -f1-3 | sort -k1,1 -k2,2n > {scratch}/both.bed",
                                   shell=True, check=True)
                    counted = measured([bincount, "-F", "1796", "-Q", q, *at, bam, f"{scratch}/both.bed"])
                    passes = measured(
                        ["samtools", "view", "-c", "-F", "1796", "-q", q, "-e", "rlen==0", *guard_at, bam],
                        ["env", "MOSDEPTH_PRECISION=10", "mosdepth", "-n", "-x", "-F", "1796", "-Q", q,
                         *(["-t", str(md_t - 1)] if md_t > 1 else []), "--by", f"{scratch}/both.bed",
                         f"{scratch}/md", bam], together=t > 1)
                    guard = measured(["samtools", "view", "-c", "-F", "1796", "-q", q, "-e", "rlen==0", *at, bam])
                    mosdepth = measured(["env", "MOSDEPTH_PRECISION=10", "mosdepth", "-n", "-x", "-F", "1796",
                                         "-Q", q, *(["-t", str(t - 1)] if t > 1 else []), "--by",
                                         f"{scratch}/both.bed", f"{scratch}/md", bam])
                    (scratch / f"cnvkit{t}").mkdir(exist_ok=True)
                    p = ["-p", str(t)] if t > 1 else []
                    cnvkit = measured(*[[str(BIN / "cnvkit.py"), "coverage", bam, str(b), "-q", q, *p,
                                         "-o", str(scratch / f"cnvkit{t}" / f"{k}.cnn")]
                                        for k, b in (("target", target), ("antitarget", antitarget))])
                    same = all(filecmp.cmp(scratch / f"cnvkit{t}" / f"{k}.cnn", d / f"{k}.cnn", shallow=False)
                               for k in ("target", "antitarget")
                               for d in (scratch / f"server{t}", scratch / f"servermd{t}", own))
                    print(f"run {run}, {t} thread{'s' if t > 1 else ''}:")
                    rows = (("samtools view -c (the floor)", floor),
                            (f"localgene engine ({served[2]}) in the step server", served[:2]),
                            ("  same, own process (CNVkit import incl.)", alone),
                            ("  its bincount pass alone", counted),
                            (f"mosdepth engine ({served_md[2]}) in the step server", served_md[:2]),
                            ("  its two passes, as the step runs them", passes),
                            ("  guard pass alone (-e 'rlen==0')", guard),
                            ("  mosdepth alone", mosdepth),
                            ("cnvkit.py coverage, target + antitarget", cnvkit))
                    for name, (cpu, wall) in rows:
                        print(f"  {name:42s} cpu {cpu:6.2f} s ({cpu / floor[0]:5.2f}x)   wall {wall:6.2f} s "
                              f"({wall / floor[1]:5.2f}x)")
                    cpu_x, wall_x = served[0] / floor[0], served[1] / floor[1]
                    print(f"  engine used in the server: {served[2]}; .cnn byte-identical to cnvkit.py coverage: "
                          f"{same}; engine in the server vs cnvkit.py coverage: cpu {served[0] / cnvkit[0]:.2f}x, "
                          f"wall {served[1] / cnvkit[1]:.2f}x")
                    verdicts.append((t, cpu_x, wall_x))
        finally:
            server.stop()
        for t, cpu_x, wall_x in verdicts:
            reached = cpu_x <= TARGET_FIGURE and wall_x <= TARGET_FIGURE
            print(f"coverage of one BAM <= {TARGET_FIGURE}x samtools view -c with {t} thread(s): "
                  f"{'REACHED' if reached else 'NOT reached'} (engine in the server: cpu {cpu_x:.2f}x, "
                  f"wall {wall_x:.2f}x)")


if __name__ == "__main__":
    main()
