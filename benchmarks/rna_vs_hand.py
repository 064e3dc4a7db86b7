"""The RNA_DIFF_EXPR job vs the same tools typed by hand, on the RNA demo data.

    PYTHONPATH=. .venv/bin/python benchmarks/rna_vs_hand.py [--data DIR] [--cores 2]

Baseline: the commands an analyst would type, in the job's order, one after the other, each
as an argument list under ``/usr/bin/time -v`` (hisat2-build with splice sites and exons;
per sample cutadapt, hisat2 | samtools sort, samtools index; featureCounts with the declared
and the other strand setting; featureCounts on the rRNA regions; DESeq2 through the same R
script). The job: ``snakemake --cores N`` on the demo body (the same tools plus localgene's
own steps: strandedness check, QC table and picture, plots, job.json, delivery), per-step
wall seconds from Snakemake's ``benchmark:`` files, peak memory from the last line of each
step's log (its tools' peak RSS, read by localgene.pipelines.rna.tools when they exit: the steps run in
threads of Snakemake's process, whose ``benchmark:`` memory is that whole process). Prints wall and CPU seconds of both, the
overhead ratios, and peak memory per step. Figures to read, not to assert: the machine is
shared, so run it when it is quiet (``uptime``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localgene.demo import rna as demodata_rna  # noqa: E402
from localgene.pipelines.rna import steps as rna_steps  # noqa: E402


def time_v(argv: list[str], stdout=None, stdin=None) -> subprocess.Popen:
    return subprocess.Popen(["/usr/bin/time", "-v", *argv], stdout=stdout, stdin=stdin,
                            stderr=subprocess.PIPE, text=False)  # fmt: skip


def measured(proc: subprocess.Popen, what: str) -> dict:
    _, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"{what} failed:\n{err.decode(errors='replace')[-2000:]}")
    text = err.decode(errors="replace")
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return {"cpu": user + system, "rss_mb": rss / 1024}


def by_hand(data: Path, work: Path, cores: int) -> tuple[float, float, dict[str, float]]:
    """Run the typed commands; return wall, CPU seconds and peak RSS (MB) per step kind."""
    truth = json.loads((data / "truth.json").read_text())
    adapter, gtf, fasta = truth["adapter"], str(data / "genes.gtf"), str(data / "genome.fa")
    idx = work / "index"
    idx.mkdir(parents=True)
    cpu, peak = 0.0, defaultdict(float)
    began = time.perf_counter()

    def run(kind, argv, stdout=None):
        nonlocal cpu
        with open(stdout, "wb") if stdout else open(os.devnull, "wb") as out:
            m = measured(time_v(argv, stdout=out), kind)
        cpu += m["cpu"]
        peak[kind] = max(peak[kind], m["rss_mb"])

    run("hisat2_index", ["hisat2_extract_splice_sites.py", gtf], stdout=idx / "ss.txt")
    run("hisat2_index", ["hisat2_extract_exons.py", gtf], stdout=idx / "exons.txt")
    run("hisat2_index", ["hisat2-build", "-p", str(cores), "--ss", str(idx / "ss.txt"), "--exon",
                         str(idx / "exons.txt"), fasta, str(idx / "genome")])  # fmt: skip
    bams = []
    for sample in demodata_rna.samples():
        r1, r2 = (str(data / f) for f in demodata_rna.fastq_names(sample))
        t1, t2 = str(work / f"{sample}_1.fq.gz"), str(work / f"{sample}_2.fq.gz")
        run("trim", ["cutadapt", "-j", str(cores), "-a", adapter, "-A", adapter, "-m", "20",
                     "-o", t1, "-p", t2, r1, r2])  # fmt: skip
        bam = str(work / f"{sample}.bam")
        aligner = time_v(["hisat2", "-p", str(cores), "--rna-strandness", "RF", "-x", str(idx / "genome"),
                          "-1", t1, "-2", t2], stdout=subprocess.PIPE)  # fmt: skip
        sorter = time_v(["samtools", "sort", "-@", "1", "-m", "256M", "-o", bam, "-"], stdin=aligner.stdout)
        aligner.stdout.close()
        m2, m1 = measured(sorter, "samtools sort"), measured(aligner, "hisat2")
        cpu += m1["cpu"] + m2["cpu"]
        peak["align"] = max(peak["align"], m1["rss_mb"] + m2["rss_mb"])
        run("align", ["samtools", "index", bam])
        bams.append(bam)
    fc = ["featureCounts", "-T", str(cores), "-p", "--countReadPairs", "-t", "exon", "-g", "gene_id",
          "--extraAttributes", "gene_name", "-a", gtf]  # fmt: skip
    run("count", [*fc, "-s", "2", "-o", str(work / "counts.txt"), *bams])
    run("strand_count", [*fc, "-s", "1", "-o", str(work / "s1.txt"), *bams])
    saf = work / "rrna.saf"
    with open(saf, "w") as out:
        out.write("GeneID\tChr\tStart\tEnd\tStrand\n")
        for f in (line.split("\t") for line in (data / "rrna.bed").read_text().splitlines()):
            out.write(f"{f[3]}\t{f[0]}\t{int(f[1]) + 1}\t{f[2]}\t{f[5]}\n")
    run("rrna_count", ["featureCounts", "-T", str(cores), "-p", "--countReadPairs", "-s", "0", "-O", "-F", "SAF",
                       "-a", str(saf), "-o", str(work / "rrna.txt"), *bams])  # fmt: skip
    # the count matrix for DESeq2: gene_id, gene_name, one column per sample
    with open(work / "counts.txt") as src, open(work / "matrix.tsv", "w") as out:
        rows = [line.rstrip("\n").split("\t") for line in src if not line.startswith("#")]
        out.write("\t".join(["gene_id", "gene_name", *demodata_rna.samples()]) + "\n")
        for row in rows[1:]:
            out.write("\t".join([row[0], row[6], *row[7:]]) + "\n")
    with open(work / "coldata.tsv", "w") as out:
        out.write("sample\tgroup\n")
        for group, members in demodata_rna.GROUPS.items():
            out.writelines(f"{s}\t{group}\n" for s in members)
    (work / "de").mkdir()
    run("de", ["Rscript", "--vanilla", str(REPO / "rules" / "rna_diff_expr" / "scripts" / "deseq2.R"),
               str(work / "matrix.tsv"), str(work / "coldata.tsv"), "control", str(work / "de")])  # fmt: skip
    return time.perf_counter() - began, cpu, dict(peak)


def job(data: Path, work: Path, cores: int) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """Run the job; return wall, CPU seconds, and peak RSS (MB) and summed wall per rule."""
    body = json.loads((data / "job.json").read_text())
    body.update(output=str(work / "delivered"), instance_id="bench")
    config = work / "body.json"
    config.write_text(json.dumps(body))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--configfile", str(config), "--directory", str(work / "job"), "--cores", str(cores)],
                          capture_output=True, text=True, env=env, cwd=REPO)  # fmt: skip
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"the job failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak, seconds = defaultdict(float), defaultdict(float)
    logs = work / "job" / "logs" / "rna"
    for tsv in (logs / "benchmark").rglob("*.tsv"):
        rel = tsv.relative_to(logs / "benchmark")
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        with open(tsv) as handle:
            seconds[rule] += float(next(csv.DictReader(handle, delimiter="\t"))["s"])
    for step_log in logs.rglob("*.log"):
        rel = step_log.relative_to(logs)
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for line in step_log.read_text(errors="replace").splitlines():
            if line.startswith(rna_steps.PEAK_RSS_LINE):
                peak[rule] = max(peak[rule], float(line[len(rna_steps.PEAK_RSS_LINE):].split()[0]))
    return wall, cpu, dict(peak), dict(seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / "tests" / ".data" / "rna" / demodata_rna.DEFAULT_LIBRARY_TYPE)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    demodata_rna.generate(args.data)
    pairs = sum(v["pairs"] for v in json.loads((args.data / "truth.json").read_text())["samples"].values())
    print(f"RNA demo data: {args.data} ({pairs} read pairs in 6 samples); load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="rna-bench-") as scratch:
        hand_wall, hand_cpu, hand_peak = by_hand(args.data, Path(scratch) / "hand", args.cores)
        job_wall, job_cpu, job_peak, job_seconds = job(args.data, Path(scratch), args.cores)
    print(f"by hand : wall {hand_wall:6.1f} s   CPU {hand_cpu:6.1f} s")
    print(f"job     : wall {job_wall:6.1f} s   CPU {job_cpu:6.1f} s")
    print(f"overhead: wall {job_wall / hand_wall:.2f}x   CPU {job_cpu / hand_cpu:.2f}x   (aim <= 1.2x)")
    print("peak RSS per step (MB):   step            job   by hand   job step seconds (summed)")
    for rule in sorted(set(job_peak) | set(hand_peak)):
        hand = f"{hand_peak[rule]:8.0f}" if rule in hand_peak else "       -"
        ours = f"{job_peak[rule]:5.0f}" if rule in job_peak else "    -"
        print(f"                          {rule:<14} {ours}  {hand}   {job_seconds.get(rule, 0):6.1f}")


if __name__ == "__main__":
    main()
