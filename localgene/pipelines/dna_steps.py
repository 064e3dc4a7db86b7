"""The steps of the DNA workflows (rules/dna_common, rules/dna_germline, rules/dna_somatic).

Each function runs the real tools with argument lists (pipes between them are subprocess pipes,
never a shell) and writes the exact command line(s) first into the step's log. A failing tool
raises :class:`~localgene.errors.WorkflowFailed` with the tail of its messages.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from localgene import fileio
from localgene.errors import InvalidRequest, WorkflowFailed
from localgene.pipelines import dna, dna_regions
from localgene.pipelines.dna_memory import SORT_MEM_MB

Cmd = Sequence[str]


# --------------------------------------------------------------------------------------------
# Running tools


def _tail(path: Path, lines: int = 6) -> str:
    try:
        return " | ".join(Path(path).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def run_pipeline(cmds: Sequence[Cmd], log_path: str | os.PathLike, stdout: str | os.PathLike | None = None,
                 append: bool = False) -> None:
    """Run ``cmds[0] | cmds[1] | ...``; the first line of the log is the command line.

    ``stdout``: a file for the last command's output. Every command's stderr goes to the log.
    """
    log_path = Path(log_path)
    cmds = [[str(a) for a in c] for c in cmds]
    with open(log_path, "a" if append else "w") as log:
        log.write(" | ".join(shlex.join(c) for c in cmds) + (f" > {stdout}" if stdout else "") + "\n")
        log.flush()
        with contextlib.ExitStack() as stack:
            out: IO[bytes] | None = stack.enter_context(open(stdout, "wb")) if stdout else None
            procs: list[subprocess.Popen] = []
            prev = None
            for i, cmd in enumerate(cmds):
                last = i == len(cmds) - 1
                proc = subprocess.Popen(
                    cmd, stdin=prev, stdout=(out if last else subprocess.PIPE) if (out or not last) else subprocess.DEVNULL,
                    stderr=log,
                )
                if prev is not None:
                    prev.close()  # the child holds it now
                prev = proc.stdout
                procs.append(proc)
            codes = [p.wait() for p in procs]
    for cmd, code in zip(cmds, codes):
        if code != 0:
            raise WorkflowFailed(f"{cmd[0]} {cmd[1] if len(cmd) > 1 else ''} failed (exit {code}): {_tail(log_path)}")


def run(cmd: Cmd, log_path, stdout=None, append: bool = True) -> None:
    run_pipeline([cmd], log_path, stdout, append=append)


def tool_version(cmd: Cmd) -> str:
    """The first line a tool prints about its version (``--version`` or its usage)."""
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, errors="replace", timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (proc.stdout + "\n" + proc.stderr).strip().splitlines()
    for line in text:
        if "version" in line.lower():
            return line.strip()
    return text[0].strip() if text else "unknown"


TOOL_VERSIONS = {
    "bwa": ["bwa"],
    "samtools": ["samtools", "--version"],
    "bcftools": ["bcftools", "--version"],
    "freebayes": ["freebayes", "--version"],
}


def benchmark_peaks(folder: str | os.PathLike) -> dict[str, float | None]:
    """Peak RSS (MB) of every finished step, from its Snakemake ``benchmark:`` record
    (``<folder>/<step>[.<wildcards>].tsv``, column ``max_rss``: the step's whole process tree,
    sampled; None where the step ended before the first sample)."""
    peaks: dict[str, float | None] = {}
    for tsv in sorted(Path(folder).glob("*.tsv")):
        rows = tsv.read_text().splitlines()
        if len(rows) < 2:
            continue
        record = dict(zip(rows[0].split("\t"), rows[-1].split("\t")))
        try:
            peaks[tsv.name[: -len(".tsv")]] = round(float(record.get("max_rss", "NA")), 1)
        except ValueError:
            peaks[tsv.name[: -len(".tsv")]] = None
    return peaks


def write_json(path, data: Any) -> None:
    fileio.atomic_write_json(path, data)


# --------------------------------------------------------------------------------------------
# Reference (each a function of a destination folder, so a shared index cache can call them)


def _cache_log(log_path):
    def say(line: str) -> None:
        with open(log_path, "a") as log:
            log.write(line + "\n")

    return say


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.abspath(target), link)


def build_fasta_index(src: str, dest_dir: str | os.PathLike, log_path, cache_dir=None) -> Path:
    """``dest_dir/genome.fa`` (a link to ``src``), its ``.fai`` and ``.dict``; returns the FASTA.

    The index files are the shared ones of :mod:`localgene.pipelines.index_cache` in ``cache_dir`` (the
    job's ``index_cache``; without one, a cache inside ``dest_dir``): built once per FASTA
    content, linked here."""
    from localgene.pipelines import index_builders, index_cache
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    fasta = dest / "genome.fa"
    if src.endswith(".gz"):
        raise InvalidRequest("a gzipped FASTA cannot be indexed here; give an uncompressed FASTA", field="ref")
    if not Path(src).is_file():
        raise InvalidRequest(f"{src} is not a file", field="ref")
    _link(Path(os.path.abspath(src)), fasta)
    Path(log_path).write_text("")
    cache = cache_dir or dest / "cache"
    say = _cache_log(log_path)
    fai = index_builders.ensure_faidx(cache, src, say)
    _link(fai / f"{index_cache.PREFIX}.fa.fai", Path(f"{fasta}.fai"))
    seq_dict = index_builders.ensure_dict(cache, src, say)
    _link(seq_dict / f"{index_cache.PREFIX}.dict", dest / "genome.dict")
    return fasta


#: The files of a bwa index (``<prefix>.<ext>``).
BWA_EXTENSIONS = ("amb", "ann", "bwt", "pac", "sa")


def build_bwa_index(fasta: str, dest_dir: str | os.PathLike, log_path, cache_dir=None) -> Path:
    """bwa's index of ``fasta`` as ``dest_dir/genome.fa.*``; returns the prefix. The shared
    index of :func:`localgene.pipelines.index_builders.ensure_bwa` (built once per FASTA content), linked."""
    from localgene.pipelines import index_builders, index_cache

    prefix = Path(dest_dir) / "genome.fa"
    entry = index_builders.ensure_bwa(cache_dir or Path(dest_dir) / "cache", fasta, _cache_log(log_path))
    for ext in BWA_EXTENSIONS:
        _link(entry / f"{index_cache.PREFIX}.{ext}", Path(f"{prefix}.{ext}"))
    return prefix


# --------------------------------------------------------------------------------------------
# Reads to a duplicate-marked BAM


def align(r1: str, r2: str, prefix: str, read_group: Mapping[str, str], threads: int, out_bam: str, log_path) -> None:
    """bwa mem (with a read group) | samtools fixmate -m | samtools sort -> coordinate-sorted BAM."""
    tmp = str(out_bam) + ".sorttmp"
    run_pipeline(
        [
            ["bwa", "mem", "-t", str(threads), "-K", "10000000", "-v", "1",
             "-R", dna.read_group_line(read_group), prefix, r1, r2],
            ["samtools", "fixmate", "-m", "-u", "-", "-"],
            ["samtools", "sort", "-m", f"{SORT_MEM_MB}M", "-T", tmp, "-o", str(out_bam), "-"],
        ],
        log_path,
    )


def markdup(in_bam: str, out_bam: str, threads: int, remove: bool, log_path, append: bool = False) -> None:
    """samtools markdup (duplicates flagged, or removed with ``remove``) and a .bai index."""
    cmd = ["samtools", "markdup", "-@", str(max(threads - 1, 0)), *(["-r"] if remove else []),
           "-T", str(out_bam) + ".mdtmp", "--write-index", in_bam, f"{out_bam}##idx##{out_bam}.bai"]
    run(cmd, log_path, append=append)


def bam_facts(path: str) -> dict[str, Any]:
    """Read-group samples, sort order and whether duplicates were marked (from the header)."""
    import pysam

    try:
        with pysam.AlignmentFile(path, "rb", check_sq=False) as bam:
            header = bam.header.to_dict()
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"{path} cannot be read as a BAM: {exc}", field="input") from None
    programs = [p for p in header.get("PG", [])]
    marked = any(
        "markdup" in (p.get("ID", "") + " " + p.get("CL", "")).lower()
        or "markduplicates" in (p.get("ID", "") + " " + p.get("PN", "")).lower()
        for p in programs
    )
    return {
        "samples": sorted({rg.get("SM") for rg in header.get("RG", []) if rg.get("SM")}),
        "sorted": header.get("HD", {}).get("SO") == "coordinate",
        "duplicates_marked": marked,
    }


def prepare_bam(src: str, expected_sample: str | None, field: str, threads: int, remove: bool, out_bam: str, log_path) -> str:
    """Check a BAM input (one SM, equal to ``expected_sample`` if given); link it if it is
    coordinate-sorted with duplicates marked, else collate | fixmate -m | sort | markdup. Returns SM."""
    facts = bam_facts(src)
    if not facts["samples"]:
        raise InvalidRequest(f"{src} has no read group with a sample name (SM)", field=field)
    if len(facts["samples"]) > 1:
        raise InvalidRequest(f"{src} holds several samples ({', '.join(facts['samples'])}); give one", field=field)
    sample = facts["samples"][0]
    if expected_sample is not None and sample != expected_sample:
        raise InvalidRequest(f"{src} has sample {sample!r} (SM); the body names it {expected_sample!r}", field=field)
    Path(log_path).write_text(f"# {src}: sample {sample}, sorted={facts['sorted']}, duplicates marked={facts['duplicates_marked']}\n")
    if facts["sorted"] and facts["duplicates_marked"] and not remove:
        if os.path.lexists(out_bam):
            os.unlink(out_bam)
        os.symlink(os.path.abspath(src), out_bam)
        run(["samtools", "index", "-@", str(threads), out_bam, f"{out_bam}.bai"], log_path)
        return sample
    tmp = str(out_bam) + ".tmp"
    run_pipeline(
        [
            ["samtools", "collate", "-u", "-O", src, tmp + ".collate"],
            ["samtools", "fixmate", "-m", "-u", "-", "-"],
            ["samtools", "sort", "-u", "-m", f"{SORT_MEM_MB}M", "-T", tmp + ".sort", "-"],
            ["samtools", "markdup", *(["-r"] if remove else []), "-T", tmp + ".md", "--write-index", "-",
             f"{out_bam}##idx##{out_bam}.bai"],
        ],
        log_path,
        append=True,
    )
    return sample


# --------------------------------------------------------------------------------------------
# Regions and known sites


def write_shard_beds(fasta: str, intervals: list[str], shard_contigs: list[list[str]], out_beds: list[str], log_path) -> None:
    """One BED per shard: the calling regions (``intervals``, or whole contigs) on its contigs."""
    chroms = dna_regions.contigs(fasta)
    regions = dna_regions.intervals_to_bed(intervals, dict(chroms)) if intervals else [(c, 0, ln) for c, ln in chroms]
    with open(log_path, "w") as log:
        log.write(f"# {len(regions)} calling regions from {', '.join(intervals) if intervals else 'the whole reference'}\n")
        for names, out in zip(shard_contigs, out_beds):
            rows = [r for r in regions if r[0] in set(names)]
            Path(out).write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in rows))
            log.write(f"{out}: {len(rows)} regions, {sum(e - s for _, s, e in rows)} bp\n")


def prepare_vcf(src: str, field: str, out_vcf: str, log_path) -> None:
    """A bgzipped, tabix-indexed copy (or link) of a VCF, for bcftools annotate and lookups."""
    if not Path(src).is_file():
        raise InvalidRequest(f"{src} is not a file", field=field)
    Path(log_path).write_text("")
    indexed = src.endswith(".gz") and (Path(src + ".tbi").is_file() or Path(src + ".csi").is_file())
    if indexed:
        os.symlink(os.path.abspath(src), out_vcf)
        ext = ".tbi" if Path(src + ".tbi").is_file() else ".csi"
        os.symlink(os.path.abspath(src + ext), out_vcf + ext)
        if ext == ".csi":
            run(["bcftools", "index", "-t", "-o", out_vcf + ".tbi", out_vcf], log_path)
        else:
            Path(log_path).write_text(f"# linked {src} and {src}.tbi\n")
        return
    run(["bcftools", "view", "-Oz", "-o", out_vcf, src], log_path)
    run(["bcftools", "index", "-t", out_vcf], log_path)


# --------------------------------------------------------------------------------------------
# Calling


def quality_args(plan: Mapping[str, Any], caller: str) -> list[str]:
    args: list[str] = []
    if plan.get("min_base_quality") is not None:
        args += ["-Q" if caller == "bcftools" else "-q", str(plan["min_base_quality"])]
    if plan.get("min_mapping_quality") is not None:
        args += ["-q" if caller == "bcftools" else "-m", str(plan["min_mapping_quality"])]
    return args


def qual_filter(min_qual: float) -> list[str]:
    """``bcftools view`` dropping variant records below ``min_qual`` (gVCF reference blocks kept)."""
    return ["bcftools", "view", "-e", f'QUAL<{min_qual:g} && TYPE!="ref"', "-Oz", "-o"]


def call_germline(plan: Mapping[str, Any], fasta: str, bam: str, bed: str, min_qual: float, out_vcf: str, log_path) -> None:
    """One region shard of a germline sample with bcftools mpileup | call, or freebayes."""
    if plan["caller"] == "bcftools":
        mpileup = ["bcftools", "mpileup", "-f", fasta, "-R", bed, "-a", "FORMAT/AD,FORMAT/DP", "-B",
                   *quality_args(plan, "bcftools"), "-Ou", bam]
        if plan["gvcf"]:
            mpileup[2:2] = ["--gvcf", "0"]
            call = ["bcftools", "call", "-m", "--gvcf", "5", "-Ou"]
        else:
            call = ["bcftools", "call", "-m", "-v", "-Ou"]
        cmds = [mpileup, call]
    else:
        fb = ["freebayes", "-f", fasta, "-t", bed, *quality_args(plan, "freebayes"), *(["--gvcf"] if plan["gvcf"] else []), bam]
        cmds = [fb]
    run_pipeline([*cmds, [*qual_filter(min_qual), out_vcf]], log_path)


def call_somatic(plan: Mapping[str, Any], fasta: str, tumor_bam: str, normal_bam: str, bed: str, out_vcf: str, log_path) -> None:
    """One region shard of a tumor/normal pair: freebayes jointly, with bcbio's paired settings."""
    fb = ["freebayes", "-f", fasta, "-t", bed, *dna.FREEBAYES_SOMATIC, *quality_args(plan, "freebayes"), tumor_bam, normal_bam]
    run_pipeline([fb, ["bcftools", "view", "-Oz", "-o", out_vcf]], log_path)


def concat(shard_vcfs: list[str], out_vcf: str, log_path) -> None:
    """Shards joined and sorted (reference order), bgzipped and indexed."""
    run_pipeline([["bcftools", "concat", "-Ou", *shard_vcfs], ["bcftools", "sort", "-m", f"{SORT_MEM_MB}M", "-T", out_vcf + ".sorttmp", "-Oz", "-o", out_vcf]], log_path)
    run(["bcftools", "index", "-t", out_vcf], log_path)


def normalize(fasta: str, in_vcf: str, split: bool, out_vcf: str, log_path) -> None:
    """bcftools norm: left-align and trim indels (and split multi-allelic records with ``split``)."""
    run(["bcftools", "norm", "-f", fasta, *(["-m", "-any"] if split else []), "-Oz", "-o", out_vcf, in_vcf], log_path, append=False)
    run(["bcftools", "index", "-t", out_vcf], log_path)


def annotate_ids(in_vcf: str, known: list[str], out_vcf: str, log_path) -> None:
    """Fill empty variant IDs from each known-sites VCF in turn (bcftools annotate -c +ID)."""
    Path(log_path).write_text("")
    current = in_vcf
    steps = known or []
    if not steps:
        run(["bcftools", "view", "-Oz", "-o", out_vcf, in_vcf], log_path)
    for i, k in enumerate(steps):
        target = out_vcf if i == len(steps) - 1 else f"{out_vcf}.{i}.vcf.gz"
        run(["bcftools", "annotate", "-a", k, "-c", "+ID", "-Oz", "-o", target, current], log_path)
        run(["bcftools", "index", "-f", "-t", target], log_path)
        current = target
    if not steps:
        run(["bcftools", "index", "-t", out_vcf], log_path)
    for i in range(len(steps) - 1):
        for ext in ("", ".tbi"):
            Path(f"{out_vcf}.{i}.vcf.gz{ext}").unlink(missing_ok=True)


def final_vcf(in_vcf: str, samples: list[str] | None, out_vcf: str, log_path) -> None:
    """The result VCF: bgzipped + .tbi for ``.vcf.gz``, plain for ``.vcf``; sample columns in
    the order ``samples`` (when given)."""
    plain = not out_vcf.endswith(".gz")
    cmd = ["bcftools", "view", *(["-s", ",".join(samples)] if samples else []), "-O", "v" if plain else "z", "-o", out_vcf, in_vcf]
    run(cmd, log_path, append=False)
    if not plain:
        run(["bcftools", "index", "-t", out_vcf], log_path)


def reads_around(bam: str, vcf: str, pad: int, out_bam: str, log_path) -> int:
    """The reads of ``bam`` within ``pad`` bp of every PASS record of ``vcf``, sorted and indexed."""
    import pysam

    bed = out_bam + ".regions.bed"
    n = 0
    with pysam.VariantFile(vcf) as calls, open(bed, "w") as out:
        for rec in calls:
            if list(rec.filter.keys()) in (["PASS"], []):
                out.write(f"{rec.chrom}\t{max(0, rec.start - pad)}\t{rec.stop + pad}\n")
                n += 1
    Path(log_path).write_text(f"# {n} PASS calls, {pad} bp either side\n")
    run(["samtools", "view", "-b", "-M", "-L", bed, "-o", out_bam, bam], log_path)
    run(["samtools", "index", out_bam, out_bam + ".bai"], log_path)
    os.unlink(bed)
    return n


def copy_bam(src: str, out_bam: str, log_path) -> None:
    Path(log_path).write_text(f"# copy {src} {out_bam} (and its .bai)\n")
    shutil.copyfile(src, out_bam)
    shutil.copyfile(src + ".bai", out_bam + ".bai")
