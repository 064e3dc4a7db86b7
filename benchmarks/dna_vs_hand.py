"""DNA_GERMLINE and DNA_SOMATIC jobs vs the same tools typed by hand, and peak memory per step.

    .venv/bin/python benchmarks/dna_vs_hand.py [--job germline|somatic|both] [--cores 2]

For each job: (1) the workflow (``snakemake --snakefile Snakefile --configfile <body> --cores N``)
on the demo data of localgene.demo.dna (built if missing); (2) the same tools with the same
options typed by hand one after the other, each under ``/usr/bin/time -v`` (bwa index, bwa mem
| fixmate | sort, markdup, the caller on the whole genome at once, norm, annotate; for somatic
freebayes with the same paired settings, and the classification). Prints wall time of both and
the ratio (the workflow's overhead: Snakemake, the per-shard split, the summary and delivery),
then per step the peak RSS measured by hand (the sum over the processes of the step's pipe, which
run at once), the job's own figure for that step (Snakemake's ``benchmark:`` record, the whole
process tree with the Python wrapper, sampled: ``peak_rss_mb`` of results/job.json, largest over
the step's jobs) and the ``mem_mb`` the rule declares (read from Snakemake's own job listing;
the formulas: localgene.pipelines.dna_memory). Figures to read, not to assert: the machine is shared.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))


def timed(cmds: list[list[str]], cwd: Path, stdout: Path | None = None) -> tuple[float, float]:
    """Run ``cmds[0] | cmds[1] | ...`` each under /usr/bin/time -v: (wall s, the sum of their
    peak RSS in MB: the processes of a pipe run at the same time)."""
    start = time.perf_counter()
    procs, prev, logs = [], None, []
    out = open(stdout, "wb") if stdout else None
    for i, cmd in enumerate(cmds):
        log = cwd / f".time.{len(list(cwd.glob('.time.*')))}.{i}.log"
        logs.append(log)
        last = i == len(cmds) - 1
        p = subprocess.Popen(["/usr/bin/time", "-v", "-o", str(log), *cmd], cwd=cwd, stdin=prev,
                             stdout=(out or subprocess.DEVNULL) if last else subprocess.PIPE,
                             stderr=subprocess.DEVNULL)  # fmt: skip
        if prev is not None:
            prev.close()
        prev = p.stdout
        procs.append(p)
    codes = [p.wait() for p in procs]
    if out:
        out.close()
    wall = time.perf_counter() - start
    if any(codes):
        sys.exit(f"failed ({codes}): {' | '.join(' '.join(c) for c in cmds)}")
    peaks = [int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text()).group(1)) for log in logs]
    return wall, sum(peaks) / 1024


def declared_mem(snakefile: Path, body: Path, workdir: Path, cores: int) -> dict[str, int]:
    """rule -> declared mem_mb, from a dry run's job listing."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--configfile", str(body),
                           "--directory", str(workdir), "--cores", str(cores), "-n", "-F"],
                          capture_output=True, text=True, env=_env())  # fmt: skip
    out, rule = {}, None
    for line in proc.stdout.splitlines() + proc.stderr.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if m:
            rule = m.group(1)
        m = re.search(r"mem_mb=(\d+)", line)
        if m and rule:
            out[rule] = max(out.get(rule, 0), int(m.group(1)))
    return out


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_workflow(body: dict, scratch: Path, cores: int) -> tuple[float, dict]:
    """The job's wall time and its per-step peak RSS (results/job.json ``peak_rss_mb``)."""
    job = scratch / "job.json"
    job.write_text(json.dumps(body))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(HERE / "Snakefile"), "--configfile",
                           str(job), "--directory", str(scratch / "wf"), "--cores", str(cores), "-q"],
                          capture_output=True, text=True, env=_env())  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"workflow failed:\n{proc.stderr[-3000:]}")
    wall = time.perf_counter() - start
    peaks = json.loads((scratch / "wf" / "results" / "job.json").read_text()).get("peak_rss_mb", {})
    return wall, peaks


def job_peak(peaks: dict, rule: str) -> float | None:
    """The largest peak of a rule's jobs (``dna_align.tumor``, ``dna_call_somatic.0`` ...)."""
    values = [v for k, v in peaks.items() if (k == rule or k.startswith(rule + ".")) and v is not None]
    return max(values) if values else None


def by_hand(kind: str, body: dict, work: Path, cores: int) -> tuple[float, list[tuple[str, str, float, float]]]:
    """The same tools typed one after the other; returns total wall and (step, rule, s, MB)."""
    from localgene.pipelines import dna
    from localgene.pipelines.dna_memory import SORT_MEM_MB

    plan = dna.plan(body)
    work.mkdir()
    t = str(cores)
    steps: list[tuple[str, str, float, float]] = []

    def step(name, rule, cmds, stdout=None):
        wall, peak = timed(cmds, work, stdout)
        steps.append((name, rule, wall, peak))

    os.symlink(body["ref"], work / "genome.fa")
    step("samtools faidx", "dna_reference", [["samtools", "faidx", "genome.fa"]])
    step("bwa index", "dna_bwa_index", [["bwa", "index", "genome.fa"]])
    bams = []
    for s in plan["samples"]:
        r1, r2 = s["files"]
        step(f"bwa mem | fixmate | sort ({s['role']})", "dna_align", [
            ["bwa", "mem", "-t", t, "-K", "10000000", "-v", "1", "-R", dna.read_group_line(s["read_group"]), "genome.fa", r1, r2],
            ["samtools", "fixmate", "-m", "-u", "-", "-"],
            ["samtools", "sort", "-m", f"{SORT_MEM_MB}M", "-o", f"{s['role']}.sorted.bam", "-"],
        ])  # fmt: skip
        step(f"samtools markdup ({s['role']})", "dna_markdup",
             [["samtools", "markdup", "-@", str(cores - 1), "--write-index", f"{s['role']}.sorted.bam", f"{s['role']}.bam##idx##{s['role']}.bam.bai"]])  # fmt: skip
        bams.append(f"{s['role']}.bam")
    if kind == "germline":
        step("bcftools mpileup | call", "dna_call_germline", [
            ["bcftools", "mpileup", "-f", "genome.fa", "-a", "FORMAT/AD,FORMAT/DP", "-B", "-Ou", bams[0]],
            ["bcftools", "call", "-m", "-v", "-Ou"],
            ["bcftools", "view", "-e", 'QUAL<30', "-Oz", "-o", "raw.vcf.gz"],
        ])  # fmt: skip
        step("bcftools norm", "dna_norm", [["bcftools", "norm", "-f", "genome.fa", "-Oz", "-o", "norm.vcf.gz", "raw.vcf.gz"]])
        step("bcftools index", "dna_norm", [["bcftools", "index", "-t", "norm.vcf.gz"]])
        step("bcftools annotate", "dna_annotate_ids",
             [["bcftools", "annotate", "-a", body["knownsites"][0], "-c", "+ID", "-Oz", "-o", "calls.vcf.gz", "norm.vcf.gz"]])  # fmt: skip
    else:
        step("freebayes (tumor + normal)", "dna_call_somatic",
             [["freebayes", "-f", "genome.fa", *dna.FREEBAYES_SOMATIC, *bams]], stdout=work / "raw.vcf")  # fmt: skip
        step("bcftools norm -m -any", "dna_norm", [["bcftools", "norm", "-f", "genome.fa", "-m", "-any", "-Oz", "-o", "norm.vcf.gz", "raw.vcf"]])
        code = (
            "import sys; from localgene.pipelines import somatic; "
            "somatic.classify('norm.vcf.gz', 'calls.vcf.gz', sys.argv[1], sys.argv[2], 'tumor.bam', "
            "orientation_modes=['G/T'], alignment_filter=True)"
        )
        step("classification (pysam)", "dna_classify",
             [[sys.executable, "-c", code, plan["samples"][0]["name"], plan["samples"][1]["name"]]])  # fmt: skip
    return sum(s[2] for s in steps), steps


def bench(kind: str, cores: int) -> None:
    from localgene.demo import dna as demodata_dna

    data = HERE / "tests" / ".data" / "dna" / kind  # as the tests' fixtures
    (demodata_dna.generate_germline if kind == "germline" else demodata_dna.generate_somatic)(data)
    body = json.loads((data / "job.json").read_text())
    with tempfile.TemporaryDirectory(prefix=f"bench-dna-{kind}-") as scratch:
        scratch = Path(scratch)
        out = scratch / "out"
        body.update(output=str(out / "calls.vcf.gz"))
        for key in ("bam_output", "mutect_bam_output"):
            if key in body:
                body[key] = str(out / f"{key}.bam")
        if kind == "somatic":  # the hand run has neither PON nor intervals: compare like with like
            for key in ("pon", "germline_resource", "intervals"):
                body.pop(key, None)
            body["mutect_is_export_bam"] = False
            body.pop("mutect_bam_output", None)
        else:
            body["is_export_bam"] = False
            body.pop("bam_output", None)
        wf, wf_peaks = run_workflow(body, scratch, cores)
        (scratch / "body.json").write_text(json.dumps(body))
        declared = declared_mem(HERE / "Snakefile", scratch / "body.json", scratch / "dry", cores)
        hand, steps = by_hand(kind, body, scratch / "hand", cores)
    print(f"\nDNA_{kind.upper()} ({cores} cores): workflow {wf:.1f} s | same tools by hand {hand:.1f} s | ratio {wf / hand:.2f}x")
    print(f"  {'step':40s} {'by hand s':>9s} {'peak MB':>8s} {'rule':>20s} {'job MB':>7s} {'mem_mb':>7s}")
    for name, rule, wall, peak in steps:
        in_job = job_peak(wf_peaks, rule)
        print(f"  {name:40s} {wall:9.1f} {peak:8.0f} {rule:>20s} {'-' if in_job is None else f'{in_job:.0f}':>7s} {declared.get(rule, 0):7d}")
    for rule in sorted({k.split(".")[0] for k in wf_peaks} - {r for _, r, _, _ in steps}):
        in_job = job_peak(wf_peaks, rule)
        print(f"  {'(the job only)':40s} {'':9s} {'':8s} {rule:>20s} {'-' if in_job is None else f'{in_job:.0f}':>7s} {declared.get(rule, 0):7d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", choices=["germline", "somatic", "both"], default="both")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    for kind in (["germline", "somatic"] if args.job == "both" else [args.job]):
        bench(kind, args.cores)


if __name__ == "__main__":
    main()
