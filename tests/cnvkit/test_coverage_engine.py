"""The fast coverage engines (bincount, mosdepth) write the same bytes as ``cnvkit.py coverage``,
or are not used (localgene.cnvkit.coverage_engine).

Every test compares the engine's ``.cnn`` with ``cnvkit.py coverage`` run as a process on the
same BAM and bins (byte for byte), and checks which engine the log names. The BAMs are the
demo data's five and small ones built here with pysam (seeded), holding every read an engine
must count as CNVkit does: duplicates, secondary, supplementary, QC-fail and unmapped reads, low
MAPQ, deletions, reference skips, insertions, soft and hard clips, reads crossing bin edges,
overlapping mates, empty bins, bins on a contig the BAM lacks, a gene named ``NA``, a stack of
reads deeper than a pileup's usual cap; the two reads mosdepth miscounts and bincount counts as
bedcov does (a read running past its contig's end, a mapped read with no reference-consuming
CIGAR operation); and the cases that must go to another engine: those reads for mosdepth,
``--count``, a broken mosdepth (``libhts.so`` missing), a bincount that cannot be built.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from localgene.cnvkit import coverage_engine as engine

CNVKIT = str(Path(sys.executable).with_name("cnvkit.py"))
CONTIGS = {"c1": 60_000, "c2": 20_000, "c3": 5_000}
READ = 100


def _read(header, name, contig, pos, cigar, flag=0, mapq=60):
    import pysam

    a = pysam.AlignedSegment(header)
    a.query_name = name
    a.flag = flag
    if contig is None:  # unplaced unmapped read
        a.reference_id, a.reference_start, a.cigarstring = -1, -1, None
        qlen = READ
    else:
        a.reference_id = list(CONTIGS).index(contig)
        a.reference_start = pos
        a.cigarstring = cigar
        qlen = sum(n for op, n in a.cigartuples if op in (0, 1, 4, 7, 8)) if a.cigartuples else READ
    a.mapping_quality = mapq
    a.query_sequence = "ACGT" * (qlen // 4) + "A" * (qlen % 4)
    a.query_qualities = pysam.qualitystring_to_array("I" * qlen)
    return a


#: The reads placed by hand in c2:1000-2000: each with the bases CNVkit counts in that bin.
HANDMADE = [
    ("edge", 950, "100M", 0, 60, 50),  # crosses the bin's start: 50 bases inside
    ("del", 1500, "40M10D60M", 0, 60, 110),  # a deletion counts as covered (bedcov default)
    ("clip", 1800, "10S90M", 0, 60, 90),  # soft clips are not on the reference
    ("hclip", 1700, "20H80M", 0, 60, 80),
    ("ins", 1100, "50M20I30M", 0, 60, 80),  # an insertion is not on the reference
    ("dup", 1200, "100M", 0x400, 60, 0),
    ("sec", 1210, "100M", 0x100, 60, 0),
    ("qcfail", 1220, "100M", 0x200, 60, 0),
    ("unmapped", 1230, "100M", 0x4, 60, 0),
    ("supp", 1300, "100M", 0x800, 60, 100),  # supplementary alignments count
    ("lowq", 1400, "100M", 0, 5, 100),  # counted at -q 0 to 5, dropped by -q 10
    ("mate", 1600, "100M", 0x1 | 0x2 | 0x40 | 0x20, 60, 100),  # overlapping mates: both count
    ("mate", 1650, "100M", 0x1 | 0x2 | 0x80 | 0x10, 60, 100),
    ("skip", 1950, "30M500N70M", 0, 60, 50),  # 30 aligned + 20 of the skip inside the bin
]
HANDMADE_BIN = ("c2", 1000, 2000)


def build_bam(path: Path, extra: list[tuple] = (), seed: int = 7) -> Path:
    """A sorted, indexed BAM of random reads with every flag and CIGAR op, plus HANDMADE."""
    import pysam

    header = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": c, "LN": n} for c, n in CONTIGS.items()]}
    rng = np.random.default_rng(seed)
    cigars = ["100M", "100M", "100M", "60M5D40M", "30M200N70M", "10S90M", "90M10S", "5H95M", "40M3I57M",
              "20S60M20S"]
    flags = [0, 0, 0, 0, 0x10, 0x400, 0x100, 0x800, 0x200, 0x1 | 0x40]
    unsorted = path.with_suffix(".unsorted.bam")
    with pysam.AlignmentFile(str(unsorted), "wb", header=header) as out:
        h = out.header
        for i in range(6000):
            contig = "c1" if i % 3 else "c3"
            pos = int(rng.integers(0, CONTIGS[contig] - 400))
            out.write(_read(h, f"r{i}", contig, pos, str(rng.choice(cigars)), int(rng.choice(flags)),
                            int(rng.integers(0, 61))))
        for name, pos, cigar, flag, mapq, _ in HANDMADE:
            out.write(_read(h, name, "c2", pos, cigar, flag, mapq))
        for i, (contig, pos, cigar, flag) in enumerate(extra):
            out.write(_read(h, f"x{i}", contig, pos, cigar, flag))
        out.write(_read(h, "nowhere", None, -1, None, 0x4, 0))
    pysam.sort("-o", str(path), str(unsorted))
    unsorted.unlink()
    pysam.index(str(path))
    return path


def write_bins(path: Path) -> Path:
    """Bins in CNVkit's BED4 layout: edges at odd places, an empty stretch, a contig the BAM
    does not have, a gene named NA (pandas reads it as missing; CNVkit writes '-')."""
    rows = [("c1", s, s + 737, f"G{s // 737}") for s in range(0, 59_000, 737)]
    rows += [("c2", 0, 1000, "A"), (*HANDMADE_BIN, "HAND"), ("c2", 2000, 2050, "NA"), ("c2", 2050, 9000, "EMPTY"),
             ("c2", 9000, 20_000, "Antitarget"), ("c3", 0, 2500, "B"), ("c3", 2500, 5000, "B"),
             ("cX", 0, 1000, "NOCONTIG")]
    path.write_text("".join(f"{c}\t{s}\t{e}\t{g}\n" for c, s, e, g in rows))
    return path


def by_cnvkit(bam: Path, bins: Path, out: Path, options: list[str]) -> bytes:
    proc = subprocess.run([CNVKIT, "coverage", str(bam), str(bins), *options, "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out.read_bytes()


def by_engine(bam: Path, bins: dict[str, Path], outdir: Path, options: list[str], values: dict,
              threads: int = 1) -> tuple[dict[str, bytes], dict[str, str]]:
    jobs = [engine.CoverageJob(kind, str(b), str(outdir / f"{kind}.cnn"),
                               ["coverage", str(bam), str(b), *options, "-o", str(outdir / f"{kind}.cnn")])
            for kind, b in bins.items()]
    with contextlib.ExitStack() as stack:
        logs = {kind: stack.enter_context(open(outdir / f"{kind}.log", "w")) for kind in bins}
        code = engine.compute(str(bam), jobs, logs, {**values, "bam_or_bg_file": str(bam)}, threads=threads,
                              scratch_parent=str(outdir))
    text = {kind: (outdir / f"{kind}.log").read_text() for kind in bins}
    assert code == 0, text
    assert not list(outdir.glob(".mosdepth-*")), "scratch left behind"
    return {kind: (outdir / f"{kind}.cnn").read_bytes() for kind in bins}, text


FAST = ["bincount", "mosdepth"]


def engine_named(log: str) -> str:
    first, second = log.splitlines()[:2]
    for name in FAST:
        if first.startswith(f"# coverage engine: {name} base counts + CNVkit's own table code; "):
            return name
    assert first.startswith("$ cnvkit.py coverage ") and second.startswith("# coverage engine: cnvkit ("), log
    return "cnvkit"


@pytest.fixture(params=FAST)
def fast(request, monkeypatch):
    """Each fast engine in turn, asked for by name."""
    monkeypatch.setenv(engine.ENV_ENGINE, request.param)
    return request.param


def depth_of(cnn: bytes, chrom: str, start: int, end: int) -> float:
    for line in cnn.decode().splitlines()[1:]:
        f = line.split("\t")
        if (f[0], int(f[1]), int(f[2])) == (chrom, start, end):
            return float(f[4])
    raise AssertionError(f"no row {chrom}:{start}-{end}")


@pytest.fixture(scope="module")
def tricky(tmp_path_factory):
    d = tmp_path_factory.mktemp("tricky")
    return build_bam(d / "tricky.bam"), write_bins(d / "bins.bed")


@pytest.mark.parametrize("options, values", [
    ([], {"min_mapq": 0}),
    (["-q", "10"], {"min_mapq": 10}),
    (["-q", "30", "-p", "2"], {"min_mapq": 30, "processes": 2}),
])
def test_every_flag_and_cigar_op_gives_cnvkits_bytes(tricky, tmp_path, options, values, fast):
    bam, bins = tricky
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, options, values, threads=2)
    assert engine_named(logs["target"]) == fast
    assert ours["target"] == by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", options)
    # The planted truth: the hand-placed reads' bases, as CNVkit defines them.
    expected = sum(b for name, _, _, _, mapq, b in HANDMADE if mapq >= values["min_mapq"])
    assert depth_of(ours["target"], *HANDMADE_BIN) == pytest.approx(expected / 1000)
    assert depth_of(ours["target"], "c2", 9000, 20_000) == 0  # an empty bin
    assert b"\tNOCONTIG" not in ours["target"]  # CNVkit drops bins on contigs the BAM lacks
    assert "\tNA\t" not in ours["target"].decode() and "c2\t2000\t2050\t-\t" in ours["target"].decode()


def test_demo_bams_target_and_antitarget_in_one_pass_give_cnvkits_bytes(demo_data, tmp_path, fast):
    """The demo job's bins (cnvkit.py target --split --annotate, antitarget) and -q 10."""
    def run(*argv):
        subprocess.run([CNVKIT, *map(str, argv)], check=True, capture_output=True)

    run("access", demo_data / "genome.fa", "-o", tmp_path / "access.bed")
    run("target", demo_data / "targets.bed", "--split", "--annotate", demo_data / "refFlat.txt",
        "-o", tmp_path / "t.target.bed")
    run("antitarget", tmp_path / "t.target.bed", "-g", tmp_path / "access.bed", "-o", tmp_path / "t.antitarget.bed")
    bins = {"target": tmp_path / "t.target.bed", "antitarget": tmp_path / "t.antitarget.bed"}
    for sample in ("N1", "N2", "N3", "T1", "T2"):
        out = tmp_path / sample
        out.mkdir()
        ours, logs = by_engine(demo_data / f"{sample}.bam", bins, out, ["-q", "10"], {"min_mapq": 10})
        for kind in bins:
            assert engine_named(logs[kind]) == fast, logs[kind]
            theirs = by_cnvkit(demo_data / f"{sample}.bam", bins[kind], out / f"cnvkit.{kind}.cnn", ["-q", "10"])
            assert ours[kind] == theirs, (sample, kind)


#: Reads mosdepth counts otherwise than bedcov, and why the mosdepth engine refuses them.
MOSDEPTH_MISCOUNTS = [
    ([("c2", 19_950, "100M", 0)], "mosdepth failed"),  # runs 50 bases past the end of c2
    ([("c1", 30_000, "50S50I", 0)], "no reference-consuming CIGAR operation"),
    ([("c1", 30_000, "100S", 0)], "no reference-consuming CIGAR operation"),
]


@pytest.mark.parametrize("extra, why", MOSDEPTH_MISCOUNTS)
@pytest.mark.parametrize("threads", [1, 2])  # (2: the guard and mosdepth side by side)
def test_reads_mosdepth_cannot_count_as_cnvkit_fall_back_to_cnvkit(tmp_path, monkeypatch, extra, why, threads):
    monkeypatch.setenv(engine.ENV_ENGINE, "mosdepth")
    bam = build_bam(tmp_path / "edge.bam", extra)
    bins = write_bins(tmp_path / "bins.bed")
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, ["-q", "10"], {"min_mapq": 10}, threads=threads)
    assert engine_named(logs["target"]) == "cnvkit" and why in logs["target"], logs["target"]
    assert ours["target"] == by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", ["-q", "10"])


@pytest.mark.parametrize("threads", [1, 2])
def test_bincount_counts_those_reads_as_cnvkit_does(tmp_path, threads):
    """All of them in one BAM, under ``auto``: bincount counts them, and the bins they touch
    get CNVkit's bytes (a read past the end adds its bases inside the last bin; a read with no
    reference base adds nothing)."""
    bam = build_bam(tmp_path / "edge.bam", [r for extra, _ in MOSDEPTH_MISCOUNTS for r in extra])
    bins = write_bins(tmp_path / "bins.bed")
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, ["-q", "10"], {"min_mapq": 10}, threads=threads)
    assert engine_named(logs["target"]) == "bincount", logs["target"]
    assert ours["target"] == by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", ["-q", "10"])
    # the last bin of c2 holds the 50 bases of the read running past its end (it is empty without it)
    assert depth_of(ours["target"], "c2", 9000, 20_000) * 11_000 == pytest.approx(50, abs=1e-3)


def test_a_stack_deeper_than_a_pileups_usual_cap_gives_cnvkits_bytes(tmp_path, fast):
    """9000 reads on one spot: bedcov counts them all (its pileup depth cap is INT_MAX), and so
    must the engine; a cap of 8000, mpileup's default, would lose 1000 x 100 bases."""
    bam = build_bam(tmp_path / "deep.bam", [("c1", 40_000, "100M", 0)] * 9000)
    bins = write_bins(tmp_path / "bins.bed")
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, [], {"min_mapq": 0})
    assert engine_named(logs["target"]) == fast, logs["target"]
    assert ours["target"] == by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", [])


def test_such_a_read_filtered_out_anyway_does_not_stop_mosdepth(tmp_path, monkeypatch):
    monkeypatch.setenv(engine.ENV_ENGINE, "mosdepth")
    bam = build_bam(tmp_path / "edge.bam", [("c1", 30_000, "50S50I", 0x400), ("c2", 19_950, "100M", 0x400)])
    bins = write_bins(tmp_path / "bins.bed")
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, [], {"min_mapq": 0})
    assert engine_named(logs["target"]) == "mosdepth", logs["target"]
    assert ours["target"] == by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", [])


def test_count_and_forced_cnvkit_run_cnvkit(tricky, tmp_path, monkeypatch):
    bam, bins = tricky
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, ["--count"], {"count": True, "min_mapq": 0})
    assert engine_named(logs["target"]) == "cnvkit" and "--count is another algorithm" in logs["target"]
    assert ours["target"] == by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", ["--count"])
    monkeypatch.setenv(engine.ENV_ENGINE, "cnvkit")
    _, logs = by_engine(bam, {"target": bins}, tmp_path, [], {"min_mapq": 0})
    assert engine_named(logs["target"]) == "cnvkit" and "LOCALGENE_COVERAGE_ENGINE=cnvkit" in logs["target"]


def test_a_mosdepth_that_cannot_load_libhts_falls_back_to_cnvkit(tricky, tmp_path, monkeypatch):
    """What Debian's mosdepth does without libhts-dev: exits 1 saying it cannot load libhts.so.
    The mosdepth engine then leaves the bins to CNVkit; ``auto``, with bincount, does not need it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mosdepth"
    fake.write_text("#!/bin/sh\necho 'could not load: libhts.so' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert "libhts.so" in engine.tools_missing()
    bam, bins = tricky
    theirs = by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", ["-q", "10"])
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, ["-q", "10"], {"min_mapq": 10})
    assert engine_named(logs["target"]) == "bincount" and ours["target"] == theirs
    monkeypatch.setenv(engine.ENV_ENGINE, "mosdepth")
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, ["-q", "10"], {"min_mapq": 10})
    assert engine_named(logs["target"]) == "cnvkit" and "could not load: libhts.so" in logs["target"]
    assert ours["target"] == theirs


def _no_bincount(monkeypatch, tmp_path):
    """bincount not built, and a C compiler that fails as it does without libhts-dev."""
    from localgene.cnvkit import coverage_counter

    monkeypatch.setattr(coverage_counter, "_build_dirs", lambda: [tmp_path / "build"])
    cc = tmp_path / "cc"
    cc.write_text("#!/bin/sh\necho 'bincount.c:33:10: fatal error: htslib/sam.h: No such file or directory' >&2\n"
                  "exit 1\n")
    cc.chmod(cc.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(cc))


def test_without_bincount_auto_takes_mosdepth_and_says_why(tricky, tmp_path, monkeypatch):
    _no_bincount(monkeypatch, tmp_path)
    bam, bins = tricky
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, ["-q", "10"], {"min_mapq": 10})
    assert engine_named(logs["target"]) == "mosdepth", logs["target"]
    assert "# bincount not used: bincount did not build (bincount.c:33:10: fatal error: htslib/sam.h" \
        in logs["target"] and "libhts-dev" in logs["target"]
    assert ours["target"] == by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", ["-q", "10"])
    assert not list((tmp_path / "build").glob("bincount-*")), "a failed build left a binary"
    monkeypatch.setenv(engine.ENV_ENGINE, "bincount")  # asked for by name: CNVkit rather than mosdepth
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, ["-q", "10"], {"min_mapq": 10})
    assert engine_named(logs["target"]) == "cnvkit" and "bincount did not build" in logs["target"]


def test_a_bin_past_its_contig_end_is_left_to_cnvkit(tricky, tmp_path):
    bam, _ = tricky
    bins = tmp_path / "bins.bed"
    bins.write_text("c3\t0\t2500\tA\nc3\t2500\t5100\tB\n")  # c3 is 5000 bases long
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, [], {"min_mapq": 0})
    assert engine_named(logs["target"]) == "cnvkit" and "not inside its contig" in logs["target"]
    assert ours["target"] == by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", [])


def test_too_little_memory_for_mosdepth_is_left_to_cnvkit(tricky, tmp_path, monkeypatch):
    """A SLURM step given less memory than mosdepth's per-base array of the longest contig;
    bincount holds no such array and runs there."""
    assert engine.memory_limit(2, {"SLURM_MEM_PER_CPU": "100"}) <= 200 << 20
    assert engine.mosdepth_memory({"chr1": 248_956_422, "chr2": 242_193_529}) > 1950 << 20
    bam, bins = tricky
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "100")  # 100 MB: less than the step needs beside mosdepth
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, [], {"min_mapq": 0})
    assert engine_named(logs["target"]) == "bincount", logs["target"]
    monkeypatch.setenv(engine.ENV_ENGINE, "mosdepth")
    ours, logs = by_engine(bam, {"target": bins}, tmp_path, [], {"min_mapq": 0})
    assert engine_named(logs["target"]) == "cnvkit" and "mosdepth needs about" in logs["target"], logs["target"]
    assert ours["target"] == by_cnvkit(bam, bins, tmp_path / "cnvkit.cnn", [])


def test_a_small_bam_is_left_to_the_warm_cnvkit_only_where_the_step_has_not_imported_it(tricky, monkeypatch):
    """``auto`` with the job's CNVkit step server reachable: a step process without CNVkit (it
    would pay the import for the fast engine's table code) gives a small BAM to CNVkit's own
    coverage in the server; a step forked by the server (CNVkit imported) keeps the fast engine;
    ``LOCALGENE_COVERAGE_ENGINE=mosdepth`` and a process with no server keep it too."""
    import types

    from localgene.cnvkit import coverage_guards
    from localgene.cnvkit.step import ENV_SERVER, ENV_SERVER_PREFIX, ENV_WARM

    bam, _ = tricky
    with_server = {ENV_SERVER: "/nonexistent/server.sock", ENV_SERVER_PREFIX: sys.prefix}
    monkeypatch.delitem(sys.modules, "cnvlib.commands", raising=False)
    assert not coverage_guards.cnvkit_imported()
    why = coverage_guards.small_bam_with_warm_cnvkit(str(bam), with_server)
    assert why is not None and "MB BAM" in why and "step server" in why, why
    assert coverage_guards.small_bam_with_warm_cnvkit(str(bam), {}) is None
    assert coverage_guards.small_bam_with_warm_cnvkit(str(bam), {**with_server, ENV_WARM: "0"}) is None
    assert coverage_guards.small_bam_with_warm_cnvkit(str(bam), {**with_server, engine.ENV_ENGINE: "mosdepth"}) is None
    monkeypatch.setitem(sys.modules, "cnvlib.commands", types.ModuleType("cnvlib.commands"))
    assert coverage_guards.cnvkit_imported()
    assert coverage_guards.small_bam_with_warm_cnvkit(str(bam), with_server) is None
