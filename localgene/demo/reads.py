"""The CNVkit demo samples' reads: fragments simulated from each sample's copy number, written as
FASTQ and aligned with the real aligner (bwa mem, samtools fixmate/sort/markdup)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from localgene.demo.design import (
    _CODES,
    _COMPLEMENT,
    _N,
    CAPTURE_PAD,
    DUPLICATE_FRACTION,
    ERROR_RATE,
    FRAGMENT_MEAN,
    FRAGMENT_SD,
    OFF_TARGET_PAIRS,
    ON_TARGET_PAIRS,
    READ_LENGTH,
    SAMPLES,
    Design,
    _rng,
)
from localgene.errors import WorkflowFailed

# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


class _Genome:
    """Lookups over the concatenated genome for the read simulator."""

    def __init__(self, design: Design, seq: np.ndarray):
        self.seq = seq
        self.starts = np.array([c.offset for c in design.chroms])
        self.ends = np.array([c.offset + c.length for c in design.chroms])
        self.names = [c.name for c in design.chroms]
        is_gc = (seq == ord("G")) | (seq == ord("C"))
        self.gc_cum = np.concatenate([[0], np.cumsum(is_gc, dtype=np.int32)])
        self.n_cum = np.concatenate([[0], np.cumsum(seq == _N, dtype=np.int32)])

    def valid(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Fragments inside one chromosome and free of N."""
        inside = (start >= 0) & (end <= self.seq.shape[0])
        start = np.clip(start, 0, self.seq.shape[0])
        end = np.clip(end, 0, self.seq.shape[0])
        chrom = np.searchsorted(self.ends, start, side="right")
        same = end <= self.ends[np.minimum(chrom, len(self.ends) - 1)]
        return inside & same & (self.n_cum[end] == self.n_cum[start])

    def gc(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        return (self.gc_cum[end] - self.gc_cum[start]) / np.maximum(end - start, 1)


def _copy_number_track(design: Design, sample: str) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant copy number over the concatenated genome: (breakpoints, values)."""
    sex = SAMPLES[sample].sex
    base = {"chrX": 2 if sex == "female" else 1, "chrY": 0 if sex == "female" else 1}
    points: list[int] = []
    values: list[float] = []
    for chrom in design.chroms:
        cn = base.get(chrom.name, 2)
        points.append(chrom.offset)
        values.append(cn)
        for ev in sorted((e for e in design.events[sample] if e.chrom == chrom.name), key=lambda e: e.start):
            points += [chrom.offset + ev.start, chrom.offset + ev.end]
            values += [ev.copy_number, cn]
    return np.array(points), np.array(values, dtype=float)


def _simulate_fragments(design: Design, genome: _Genome, sample: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample fragments (global start, length) for a sample: capture + off-target + duplicates."""
    index = list(SAMPLES).index(sample)
    rng = _rng(seed, 100 + index)
    library, gc_opt = SAMPLES[sample].library, SAMPLES[sample].gc_optimum
    points, values = _copy_number_track(design, sample)
    max_cn = values.max()

    # Per-exon capture efficiency (bait performance): shared by every sample, as with one kit.
    exons = np.array([(c.offset + a, c.offset + b) for c in design.chroms for g in c.genes for a, b in g.exons])
    bait = np.exp(_rng(seed, 3).normal(0, 0.25, exons.shape[0]))
    weight = (exons[:, 1] - exons[:, 0] + 2 * CAPTURE_PAD) * bait
    weight /= weight.sum()

    def accept(start: np.ndarray, length: np.ndarray) -> np.ndarray:
        end = start + length
        ok = genome.valid(start, end)
        start, end = start[ok], end[ok]
        cn = values[np.searchsorted(points, start + (end - start) // 2, side="right") - 1]
        gc = genome.gc(start, end)
        efficiency = np.exp(-0.5 * ((gc - gc_opt) / 0.17) ** 2)  # mild GC bias
        keep = rng.random(start.shape[0]) < (cn / max_cn) * efficiency
        return np.flatnonzero(ok)[keep]

    def draw(n_wanted: int, propose: Any) -> tuple[np.ndarray, np.ndarray]:
        starts, lengths, have = [], [], 0
        while have < n_wanted:
            n = int((n_wanted - have) * 2.5 * max_cn / 2) + 1000
            length = np.clip(np.round(rng.normal(FRAGMENT_MEAN, FRAGMENT_SD, n)), 180, 480).astype(np.int64)
            start = propose(n, length)
            keep = accept(start, length)
            starts.append(start[keep])
            lengths.append(length[keep])
            have += keep.shape[0]
        return np.concatenate(starts)[:n_wanted], np.concatenate(lengths)[:n_wanted]

    def on_target(n: int, length: np.ndarray) -> np.ndarray:
        which = rng.choice(exons.shape[0], size=n, p=weight)
        lo = exons[which, 0] - CAPTURE_PAD
        hi = exons[which, 1] + CAPTURE_PAD
        centre = lo + np.floor(rng.random(n) * (hi - lo)).astype(np.int64)
        return centre - length // 2

    def off_target(n: int, length: np.ndarray) -> np.ndarray:
        return rng.integers(0, genome.seq.shape[0], n)

    s_on, l_on = draw(int(ON_TARGET_PAIRS * library), on_target)
    s_off, l_off = draw(int(OFF_TARGET_PAIRS * library), off_target)
    start = np.concatenate([s_on, s_off])
    length = np.concatenate([l_on, l_off])
    dup = rng.choice(start.shape[0], size=int(start.shape[0] * DUPLICATE_FRACTION), replace=False)
    start = np.concatenate([start, start[dup]])
    length = np.concatenate([length, length[dup]])
    order = rng.permutation(start.shape[0])
    return start[order], length[order]


def _fastq_chunks(
    genome: _Genome, sample: str, start: np.ndarray, length: np.ndarray, seed: int, chunk: int = 40_000
) -> Iterator[bytes]:
    """Interleaved FASTQ (read 1, read 2 of each pair) for ``bwa mem -p``."""
    rng = _rng(seed, 200 + list(SAMPLES).index(sample))
    R = READ_LENGTH
    offsets = np.arange(R)
    error_rate = np.linspace(*ERROR_RATE, R)
    quality = np.frombuffer(
        bytes(33 + q for q in np.round(np.linspace(38, 30, R)).astype(int)), dtype=np.uint8
    )
    flip = np.asarray(rng.random(start.shape[0]) < 0.5)  # which strand read 1 comes from
    width = len(str(start.shape[0]))
    for lo in range(0, start.shape[0], chunk):
        s, ln, fl = start[lo : lo + chunk], length[lo : lo + chunk], flip[lo : lo + chunk]
        n = s.shape[0]
        fwd = genome.seq[s[:, None] + offsets]
        rev = _COMPLEMENT[genome.seq[(s + ln - R)[:, None] + offsets]][:, ::-1]
        r1 = np.where(fl[:, None], rev, fwd)
        r2 = np.where(fl[:, None], fwd, rev)
        reads = np.stack([r1, r2], axis=1).reshape(2 * n, R)
        hit = rng.random(reads.shape) < error_rate
        idx = np.searchsorted(_CODES, reads[hit])
        reads[hit] = _CODES[(idx + rng.integers(1, 4, idx.shape[0])) % 4]
        names = "".join(f"@{sample}_{i:0{width}d}\n" * 2 for i in range(lo, lo + n)).encode()
        name_arr = np.frombuffer(names, dtype=np.uint8).reshape(2 * n, -1)
        newline = np.full((2 * n, 1), 10, dtype=np.uint8)
        plus = np.tile(np.frombuffer(b"+\n", dtype=np.uint8), (2 * n, 1))
        quals = np.tile(quality, (2 * n, 1))
        yield np.concatenate([name_arr, reads, newline, plus, quals, newline], axis=1).tobytes()


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _align(
    chunks: Iterator[bytes], sample: str, index_prefix: Path, out_bam: Path, scratch: Path, threads: int
) -> None:
    """bwa mem | samtools fixmate -m | samtools sort, then markdup and index; argv lists only."""
    logs = {step: scratch / f"{sample}.{step}.log" for step in ("bwa", "fixmate", "sort", "markdup")}
    sorted_bam = scratch / f"{sample}.sorted.bam"
    bwa_cmd = [
        "bwa", "mem", "-t", str(threads), "-p", "-K", "10000000", "-v", "1",
        "-R", f"@RG\\tID:{sample}\\tSM:{sample}", str(index_prefix), "-",
    ]  # fmt: skip
    fixmate_cmd = ["samtools", "fixmate", "-m", "-u", "-", "-"]
    sort_cmd = [
        "samtools", "sort", "-l", "1", "-m", "400M", "-T", str(scratch / f"{sample}.sorttmp"),
        "-o", str(sorted_bam), "-",
    ]  # fmt: skip
    with contextlib.ExitStack() as stack:
        errs = {k: stack.enter_context(open(v, "wb")) for k, v in logs.items()}
        bwa = subprocess.Popen(bwa_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errs["bwa"])
        fixmate = subprocess.Popen(fixmate_cmd, stdin=bwa.stdout, stdout=subprocess.PIPE, stderr=errs["fixmate"])
        sort = subprocess.Popen(sort_cmd, stdin=fixmate.stdout, stderr=errs["sort"])
        assert bwa.stdout is not None and fixmate.stdout is not None and bwa.stdin is not None
        bwa.stdout.close()  # the children hold the pipe ends now
        fixmate.stdout.close()
        try:
            for data in chunks:
                bwa.stdin.write(data)
        except BrokenPipeError:
            pass  # bwa died; reported below
        finally:
            with contextlib.suppress(BrokenPipeError):
                bwa.stdin.close()
        codes = {"bwa": bwa.wait(), "fixmate": fixmate.wait(), "sort": sort.wait()}
    for step, code in codes.items():
        if code != 0:
            raise WorkflowFailed(
                f"demo data: {step} failed for sample {sample} (exit {code}): {_tail(logs[step])}"
            )
    tmp_out = out_bam.with_name(out_bam.name + ".tmp")
    _run(["samtools", "markdup", "-@", str(max(threads - 1, 0)), "-T", str(scratch / f"{sample}.mdtmp"),
          str(sorted_bam), str(tmp_out)], logs["markdup"], f"markdup for sample {sample}")  # fmt: skip
    os.replace(tmp_out, out_bam)
    sorted_bam.unlink()
    _run(["samtools", "index", str(out_bam)], scratch / f"{sample}.index.log", f"samtools index for {sample}")


def _run(cmd: list[str], log_path: Path, what: str) -> None:
    with open(log_path, "wb") as err:
        code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=err).returncode
    if code != 0:
        raise WorkflowFailed(f"demo data: {what} failed (exit {code}): {_tail(log_path)}")


