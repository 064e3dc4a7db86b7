"""The coverage steps of a whole localgene job, with each coverage engine, in one run.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/coverage_in_job.py [--data DIR] [--cores 2]
                                          [--engines auto,bincount,mosdepth,cnvkit] [--workflow DIR ...]
                                          [--repeat 1]

Runs the job of ``--data`` (the demo data set, built if missing, or a data set of
``benchmarks/scale_data.py``; the bins of benchmarks/workflow_vs_batch.py) with ``localgene run``
once per ``LOCALGENE_COVERAGE_ENGINE`` value and workflow (``--workflow``: the Snakefile of another
checkout, ``LOCALGENE_WORKFLOW_DIR``; repeat it to compare several, ``.`` is this one), one after
the other, each with the job's CNVkit step server (the coverage steps are forked by it, CNVkit
already imported). From each job's timeline
(``results/job.json``) it prints the job's wall and CPU seconds, the coverage steps' wall and CPU
(each step, and their sum), the threads Snakemake gave them and the engine each step's log
names; then each run's figures against the first one's. Figures to read, not to assert: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from workflow_vs_batch import ANTITARGET_AVG, HERE, TARGET_AVG, timed


def engine_named(log: Path) -> str:
    head = log.read_text().splitlines()[:2]
    if head and head[0].startswith("# coverage engine: "):
        return head[0].split()[3]  # bincount or mosdepth
    if len(head) > 1 and head[1].startswith("# coverage engine: cnvkit"):
        return "cnvkit"
    return "?"


def coverage_steps(home: Path) -> list[dict]:
    """The job's coverage records (timeline), each with the engine its log names and the
    threads its request (the log's ``-p``/threads line) does not show: Snakemake's, from the
    step's ``threads`` in the job's Snakemake log."""
    job = next(home.glob("jobs/*/results/job.json"))
    folder = job.parent.parent
    steps = [r for r in json.loads(job.read_text())["timeline"] if r["step"] == "coverage"]
    threads = snakemake_threads(folder)
    for r in steps:
        r["engine"] = engine_named(folder / r["log"])
        r["threads"] = threads.get(r["wildcards"].get("sample"), "?")
    return steps


def snakemake_threads(folder: Path) -> dict[str, str]:
    """Sample -> the threads Snakemake gave its coverage step (the indented ``threads:`` line
    under each ``rule coverage:`` of the job's Snakemake log; none: 1)."""
    found: dict[str, str] = {}
    for log in folder.glob(".snakemake/log/*.snakemake.log"):
        fields: dict[str, str] | None = None
        for line in log.read_text().splitlines() + [""]:
            if line.strip() in ("rule coverage:", "localrule coverage:"):
                fields = {}
            elif fields is not None and line.startswith("    ") and ":" in line:
                key, _, value = line.strip().partition(":")
                fields[key] = value.strip()
            elif fields is not None:
                sample = fields.get("wildcards", "").partition("sample=")[2].split(",")[0].strip()
                if sample:
                    found[sample] = fields.get("threads", "1")
                fields = None
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / "tests" / ".data" / "demo")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--engines", default="auto,bincount,mosdepth,cnvkit")
    ap.add_argument("--workflow", type=Path, action="append",
                    help="run the Snakefile of this checkout (repeatable; '.': this one)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    manifest = args.data / "manifest.json"
    if not (manifest.is_file() and json.loads(manifest.read_text()).get("generator") == "benchmarks/scale_data.py"):
        from localgene.demo.cnvkit import generate

        generate(args.data)
    body = json.loads((args.data / "job.json").read_text())
    body["target_conf"] = f"{body.get('target_conf', '')} -a {TARGET_AVG}".strip()
    body["antitarget_conf"] = f"-a {ANTITARGET_AVG}"
    localgene = str(Path(sys.executable).parent / "localgene")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    workflows = [w.resolve() for w in args.workflow or [HERE]]
    variants = [(e, w) for w in workflows for e in engines]
    print(f"data {args.data}, {args.cores} cores, coverage_conf {body.get('coverage_conf', '')!r}")
    for run in range(1, args.repeat + 1):
        totals = {}
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            (scratch / "job.json").write_text(json.dumps(dict(body, output_dir=str(scratch / "out"))))
            for n, (engine, wf) in enumerate(variants):
                label = f"LOCALGENE_COVERAGE_ENGINE={engine}" + (f", workflow {wf}" if len(workflows) > 1 else "")
                home = scratch / f"home-{n}"
                env = dict(os.environ, LOCALGENE_HOME=str(home), LOCALGENE_COVERAGE_ENGINE=engine,
                           LOCALGENE_WORKFLOW_DIR=str(wf))
                env.pop("LOCALGENE_WARM", None)
                wall, cpu, _ = timed([localgene, "run", str(scratch / "job.json"), "--cores", str(args.cores)], env)
                steps = coverage_steps(home)
                cov_wall = sum(r["wall_s"] for r in steps)
                cov_cpu = sum(r["cpu_s"] for r in steps)
                span = max(r["end"] for r in steps) - min(r["start"] for r in steps)
                totals[label] = (wall, cpu, span, cov_cpu)
                used = sorted({r["engine"] for r in steps})
                print(f"run {run}: {label}\n  job {wall:6.1f} s wall, {cpu:6.1f} s CPU; {len(steps)} coverage steps "
                      f"({'/'.join(used)}, {'/'.join(sorted({str(r['threads']) for r in steps}))} threads, runner "
                      f"{'/'.join(sorted({r['runner'] for r in steps}))}): first start to last end {span:5.1f} s, "
                      f"{cov_wall:5.1f} s wall and {cov_cpu:5.1f} s CPU summed\n  each: "
                      + ", ".join(f"{r['wildcards'].get('sample')} {r['wall_s']:.2f}/{r['cpu_s']:.2f}" for r in steps)
                      + " (wall/CPU s)")
        labels = list(totals)
        for label in labels[1:]:
            w, c, sp, cc = (a / b if b else float("nan") for a, b in zip(totals[label], totals[labels[0]]))
            print(f"run {run}: [{label}] / [{labels[0]}]: job wall {w:.2f}x, job CPU {c:.2f}x; "
                  f"coverage span {sp:.2f}x, coverage CPU {cc:.2f}x")


if __name__ == "__main__":
    main()
