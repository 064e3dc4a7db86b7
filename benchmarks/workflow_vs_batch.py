"""Wall time and peak memory of a localgene job vs ``cnvkit.py batch -p N`` on the same data.

    .venv/bin/python benchmarks/workflow_vs_batch.py [--data DIR] [--cores 2] [--repeat 1]

Both runs use the demo data (built if missing), the same bin sizes (target ``-a``, antitarget
``-a`` given explicitly so that batch's autobin does not choose its own), the same annotation
and the same cores. Prints one line per run and the ratio. Timings are figures to read, not
to assert: the machine is shared.
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


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the largest process the command started."""
    runner = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.run(sys.argv[1:]).returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", runner, *argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.strip().splitlines()[-1])
    return wall, peak_kb / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / "tests" / ".data" / "demo")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    from localgene.demodata import generate

    generate(args.data)
    body = json.loads((args.data / "job.json").read_text())
    body["target_conf"] = f"{body.get('target_conf', '')} -a {TARGET_AVG}".strip()
    body["antitarget_conf"] = f"-a {ANTITARGET_AVG}"
    bin_dir = Path(sys.executable).parent

    rows = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            job = dict(body, output_dir=str(scratch / "out"))
            (scratch / "job.json").write_text(json.dumps(job))
            env = dict(os.environ, LOCALGENE_HOME=str(scratch / "home"))
            lg = timed([str(bin_dir / "localgene"), "run", str(scratch / "job.json"), "--cores", str(args.cores)], env)
            batch = timed([
                str(bin_dir / "cnvkit.py"), "batch", *body["experimental_inputs"],
                "-n", *body["control_inputs"], "-t", body["bed"], "-f", body["ref"],
                "--annotate", body["annotation_file"], "--target-avg-size", str(TARGET_AVG),
                "--antitarget-avg-size", str(ANTITARGET_AVG), "-p", str(args.cores),
                "-d", str(scratch / "batch"), "--output-reference", str(scratch / "batch" / "reference.cnn"),
            ])
            rows.append((lg, batch))
            print(f"run {i + 1}: localgene run {lg[0]:6.1f} s (peak {lg[1]:5.0f} MB) | "
                  f"cnvkit.py batch -p {args.cores} {batch[0]:6.1f} s (peak {batch[1]:5.0f} MB) | "
                  f"ratio {lg[0] / batch[0]:4.1f}x")
    lg_best = min(r[0][0] for r in rows)
    batch_best = min(r[1][0] for r in rows)
    samples = len(body["experimental_inputs"]) + len(body["control_inputs"])
    print(f"best of {args.repeat}: localgene {lg_best:.1f} s, batch {batch_best:.1f} s, "
          f"ratio {lg_best / batch_best:.1f}x ({samples} BAMs, {args.cores} cores)")


if __name__ == "__main__":
    main()
