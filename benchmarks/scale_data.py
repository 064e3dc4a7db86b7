"""A benchmark data set at realistic scale: the demo design with >= 5 million reads per BAM.

    .venv/bin/python benchmarks/scale_data.py OUTDIR [--scale 20] [--samples N1,T1] [--seed 1]

Writes into OUTDIR the demo genome, targets and annotation of :mod:`localgene.demo.cnvkit` (same
seed, same genes, same planted copy-number events; ``truth.json`` and ``job.json`` as the demo
has them) and, for each sample, ``<sample>.bam`` (+ ``.bai``) holding ``--scale`` times the
demo's read pairs: at the default scale of 20, 5.2-5.9 million reads per BAM (about 2,000x
mean depth on target, 60x off target).

**Not aligned.** Aligning 5 M reads with bwa on two cores takes too long for a benchmark, so
the reads are written directly as coordinate-sorted BAM records (``samtools view -b`` of SAM
text generated here): fragments are drawn by the demo's own simulator
(``localgene.demo.cnvkit._simulate_fragments``: capture on exons, off-target background, GC bias,
depth following the planted copy number, ~3 % PCR duplicates), drawn ``--scale`` times with
independent seeds; each fragment gives a proper pair of 150 bp reads (``150M``, mate 1 forward
at the fragment's left end, mate 2 reverse at its right end) whose bases are the reference's
(no sequencing errors). Duplicates (same contig, start and length as an earlier fragment) are
flagged 0x400 as ``samtools markdup`` would; 2 % of the pairs get mapping quality 0-5 (the demo
job's ``-q 10`` drops them), the rest 60. This is data for timing coverage and the workflow, not
for testing an aligner; the copy-number truth still holds, so the calls can be checked.

The data set is complete when its ``manifest.json`` (written last) names this generator, scale
and seed; a second call returns at once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from localgene.demo import cnvkit as dd

READ = dd.READ_LENGTH
LOW_MAPQ_FRACTION = 0.02
MANIFEST = "manifest.json"
GENERATOR = "benchmarks/scale_data.py"
VERSION = "1"


def fragments(design, genome, sample: str, seed: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """``scale`` independent draws of the demo simulator for ``sample``: (global start, length)."""
    starts, lengths = [], []
    for k in range(scale):
        s, length = dd._simulate_fragments(design, genome, sample, seed * 10_000 + k)
        starts.append(s)
        lengths.append(length)
    return np.concatenate(starts), np.concatenate(lengths)


def sam_records(design, genome, sample: str, seed: int, scale: int):
    """Yield (SAM text chunk, reads in it) in coordinate order; also returns counts at the end."""
    rng = np.random.default_rng([seed, 7000 + list(dd.SAMPLES).index(sample)])
    g, length = fragments(design, genome, sample, seed, scale)
    chrom = np.searchsorted(genome.ends, g, side="right")
    pos = g - genome.starts[chrom]
    # Duplicates: every fragment identical in contig, start and length to an earlier one.
    order = np.lexsort((np.arange(g.shape[0]), length, g))
    same = np.zeros(g.shape[0], dtype=bool)
    sg, sl = g[order], length[order]
    same[order[1:]] = (sg[1:] == sg[:-1]) & (sl[1:] == sl[:-1])
    mapq = np.where(rng.random(g.shape[0]) < LOW_MAPQ_FRACTION, rng.integers(0, 6, g.shape[0]), 60)
    n = g.shape[0]
    # Reads: mate 1 at the left end (forward), mate 2 at the right end (reverse).
    frag = np.concatenate([np.arange(n), np.arange(n)])
    mate2 = np.concatenate([np.zeros(n, bool), np.ones(n, bool)])
    rpos = np.concatenate([pos, pos + length - READ])
    rchrom = np.concatenate([chrom, chrom])
    order = np.lexsort((mate2, frag, rpos, rchrom))
    seq = genome.seq.tobytes().upper()
    names = genome.names
    qual = "".join(chr(33 + q) for q in np.round(np.linspace(38, 30, READ)).astype(int))
    chunk = 200_000
    for lo in range(0, order.shape[0], chunk):
        idx = order[lo:lo + chunk]
        lines = []
        for i in idx.tolist():
            f = frag[i]
            m2 = mate2[i]
            c = rchrom[i]
            p = int(rpos[i])
            mp = int(pos[f] if m2 else pos[f] + length[f] - READ)
            flag = 0x1 | 0x2 | (0x80 | 0x10 if m2 else 0x40 | 0x20) | (0x400 if same[f] else 0)
            tlen = -int(length[f]) if m2 else int(length[f])
            o = int(genome.starts[c]) + p
            lines.append(f"f{f}\t{flag}\t{names[c]}\t{p + 1}\t{mapq[f]}\t{READ}M\t=\t{mp + 1}\t{tlen}\t"
                         f"{seq[o:o + READ].decode()}\t{qual}\n")
        yield "".join(lines), len(lines)


def write_bam(path: Path, design, genome, sample: str, seed: int, scale: int, threads: int) -> int:
    header = "@HD\tVN:1.6\tSO:coordinate\n" + "".join(
        f"@SQ\tSN:{c.name}\tLN:{c.length}\n" for c in design.chroms) + f"@RG\tID:{sample}\tSM:{sample}\n"
    tmp = path.with_name(f".{path.name}.part")
    proc = subprocess.Popen(["samtools", "view", "-b", "-@", str(threads), "-o", str(tmp), "-"],
                            stdin=subprocess.PIPE, text=True)
    reads = 0
    try:
        proc.stdin.write(header)
        for text, count in sam_records(design, genome, sample, seed, scale):
            proc.stdin.write(text)
            reads += count
        proc.stdin.close()
        if proc.wait() != 0:
            sys.exit(f"samtools view failed writing {path}")
    except BaseException:
        proc.kill()
        tmp.unlink(missing_ok=True)
        raise
    subprocess.run(["samtools", "index", "-@", str(threads), str(tmp), f"{path}.bai"], check=True)
    os.replace(tmp, path)
    return reads


def complete(outdir: Path, scale: int, seed: int, samples: list[str]) -> bool:
    try:
        m = json.loads((outdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return (m.get("generator"), m.get("version"), m.get("scale"), m.get("seed")) == (GENERATOR, VERSION, scale, seed) \
        and set(samples) <= set(m.get("reads", {})) and all((outdir / f"{s}.bam.bai").exists() for s in samples)


def generate(outdir: Path, scale: int = 20, seed: int = dd.DEFAULT_SEED, samples: list[str] | None = None,
             threads: int = 2) -> dict[str, int]:
    """Build (or find complete) the data set; the reads per sample."""
    samples = samples or list(dd.SAMPLES)
    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    if complete(outdir, scale, seed, samples):
        return json.loads((outdir / MANIFEST).read_text())["reads"]
    (outdir / MANIFEST).unlink(missing_ok=True)
    design, seq = dd._write_reference(outdir, seed)
    genome = dd._Genome(design, seq)
    reads = {}
    for sample in samples:
        began = time.monotonic()
        reads[sample] = write_bam(outdir / f"{sample}.bam", design, genome, sample, seed, scale, threads)
        print(f"{sample}: {reads[sample]:,} reads in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    dd._write_truth(outdir, design)
    controls = [s for s in dd.CONTROLS if s in samples]
    tests = [s for s in dd.EXPERIMENTALS if s in samples]
    dd.write_job(outdir, experimental_inputs=[str(outdir / f"{s}.bam") for s in tests],
                 control_inputs=[str(outdir / f"{s}.bam") for s in controls])
    (outdir / MANIFEST).write_text(json.dumps({"generator": GENERATOR, "version": VERSION, "scale": scale,
                                               "seed": seed, "reads": reads}, indent=2) + "\n")
    return reads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--scale", type=int, default=20, help="read pairs as a multiple of the demo's (default 20)")
    ap.add_argument("--samples", default=",".join(dd.SAMPLES), help="comma-separated (default all five)")
    ap.add_argument("--seed", type=int, default=dd.DEFAULT_SEED)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    reads = generate(args.outdir, args.scale, args.seed, args.samples.split(","), args.threads)
    for sample, n in reads.items():
        print(f"{sample}\t{n}\t{args.outdir / (sample + '.bam')}")


if __name__ == "__main__":
    main()
