"""The shared index cache against the same tools typed by hand.

On a seeded synthetic genome (``--mb`` megabases, random sequence, several contigs) and a small
GTF, for bwa and HISAT2 (with splice sites and exons):

* **by hand**: ``bwa index -p …`` / ``hisat2_extract_splice_sites.py``, ``hisat2_extract_exons.py``,
  ``hisat2-build --ss --exon`` — what a job would run every time without the cache;
* **first job**: ``index_cache.ensure_*`` on an empty cache (the same build, plus hashing the
  inputs, writing meta.json, the atomic rename) — its ratio to the hand build is the overhead;
* **later job**: ``ensure_*`` again on the same content under another file name (hash of the
  FASTA remembered per file, so a *new* path costs one read of it) and on the same path (a stat).

Peak RSS of each hand build is measured with ``/usr/bin/time -v`` when it is installed.
Usage::

    .venv/bin/python benchmarks/index_cache.py            # 5 Mb
    .venv/bin/python benchmarks/index_cache.py --mb 20
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localgene.pipelines import index_builders


def write_genome(path: Path, mb: float, seed: int = 7) -> None:
    rng = random.Random(seed)
    total = int(mb * 1_000_000)
    contigs = 4
    with open(path, "w") as fh:
        for c in range(contigs):
            fh.write(f">chr{c + 1}\n")
            n = total // contigs
            for i in range(0, n, 60):
                fh.write("".join(rng.choices("ACGT", k=min(60, n - i))) + "\n")


def write_gtf(path: Path, mb: float) -> None:
    rows = []
    step = 20_000
    for c in range(4):
        for g, start in enumerate(range(1_000, int(mb * 1_000_000) // 4 - 5_000, step)):
            strand = "+" if g % 2 else "-"
            for e in range(3):
                s = start + e * 1_500
                rows.append(f'chr{c + 1}\tbench\texon\t{s}\t{s + 500}\t.\t{strand}\t.\t'
                            f'gene_id "g{c}_{g}"; transcript_id "t{c}_{g}";')
    path.write_text("\n".join(rows) + "\n")


def timed(argv: list[str], stdout=None) -> tuple[float, int | None]:
    """Seconds and peak RSS (kB, or None without /usr/bin/time) of one command."""
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    t0 = time.perf_counter()
    proc = subprocess.run([*timer, *argv], stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=True)
    seconds = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return seconds, int(m.group(1)) if m else None


def clock(func) -> float:
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=5.0, help="genome size in megabases (default 5)")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="lg-index-bench-"))
    quiet = lambda line: None  # noqa: E731
    try:
        fasta, gtf = root / "genome.fa", root / "genes.gtf"
        write_genome(fasta, args.mb)
        write_gtf(gtf, args.mb)
        copy = root / "same-genome-other-name.fa"
        shutil.copyfile(fasta, copy)
        print(f"genome: {args.mb:g} Mb, {sum(1 for _ in open(gtf))} GTF exons; tools: "
              f"{index_builders.tool_version(['bwa'])}, {index_builders.tool_version(['hisat2-build', '--version'])}")

        hand = root / "hand"
        hand.mkdir()
        bwa_s, bwa_rss = timed(["bwa", "index", "-p", str(hand / "ref"), str(fasta)])
        ss_s, _ = timed(["hisat2_extract_splice_sites.py", str(gtf)], stdout=open(hand / "ss.txt", "w"))
        ex_s, _ = timed(["hisat2_extract_exons.py", str(gtf)], stdout=open(hand / "exons.txt", "w"))
        hb_s, hb_rss = timed(["hisat2-build", "-p", "1", "--ss", str(hand / "ss.txt"), "--exon",
                              str(hand / "exons.txt"), str(fasta), str(hand / "ref")])
        hisat_s = ss_s + ex_s + hb_s

        cache = root / "cache"
        first_bwa = clock(lambda: index_builders.ensure_bwa(cache, fasta, quiet))
        first_hisat = clock(lambda: index_builders.ensure_hisat2(cache, fasta, gtf, quiet))
        other_bwa = clock(lambda: index_builders.ensure_bwa(cache, copy, quiet))
        other_hisat = clock(lambda: index_builders.ensure_hisat2(cache, copy, gtf, quiet))
        same_bwa = clock(lambda: index_builders.ensure_bwa(cache, fasta, quiet))
        same_hisat = clock(lambda: index_builders.ensure_hisat2(cache, fasta, gtf, quiet))

        def row(name, by_hand, first, other, same, rss):
            print(f"{name:8} {by_hand:9.2f} {first:10.2f} {first / by_hand:8.2f}x {other:11.3f} "
                  f"{same:10.3f} {by_hand / max(same, 1e-6):9.0f}x  {rss // 1024 if rss else '-':>6}")

        print(f"{'index':8} {'hand (s)':>9} {'first (s)':>10} {'ratio':>9} {'reuse-new':>11} "
              f"{'reuse-same':>10} {'speedup':>10}  {'RSS MB':>6}")
        row("bwa", bwa_s, first_bwa, other_bwa, same_bwa, bwa_rss)
        row("hisat2", hisat_s, first_hisat, other_hisat, same_hisat, hb_rss)
        print("ratio: first cached build / hand build (1.00 = no overhead); reuse-new: same content, new "
              "path (hashes the FASTA once); reuse-same: a later job on the same file; speedup: hand / reuse-same")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
