"""bincount (localgene.cnvkit.coverage_counter): each bin's base count as ``samtools bedcov``
gives it, from one pass; built once, where it can be; refusing what it cannot count.

The byte-identity of whole ``.cnn`` files with CNVkit's is tests/cnvkit/test_coverage_engine.py's;
here the counts themselves are compared with samtools bedcov (the code CNVkit's coverage calls
through pysam) on bins that overlap, nest, share edges and sit on contigs without reads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from localgene.cnvkit import coverage_counter as counter

sys.path.insert(0, str(Path(__file__).parent))
from test_coverage_engine import CONTIGS, _read, build_bam  # noqa: E402

EXCLUDE = 1796


def bedcov(bam: Path, intervals, min_mapq: int, tmp_path: Path) -> list[int]:
    bed = tmp_path / "bedcov.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in intervals))
    out = subprocess.run(["samtools", "bedcov", "-Q", str(min_mapq), str(bed), str(bam)], capture_output=True,
                         text=True, check=True).stdout
    return [int(line.split("\t")[3]) for line in out.splitlines()]


#: Bins in no order: overlapping, nested, sharing edges, one base, the whole of a contig.
BINS = [("c1", 500, 1500), ("c1", 0, 60_000), ("c1", 1000, 1200), ("c1", 1200, 1201), ("c3", 4000, 5000),
        ("c1", 1100, 2500), ("c2", 0, 20_000), ("c2", 1500, 1510), ("c3", 0, 10), ("c1", 59_000, 60_000)]


@pytest.mark.parametrize("min_mapq, threads", [(0, 1), (10, 1), (30, 2)])
def test_counts_are_samtools_bedcovs_on_bins_in_any_order(tmp_path, min_mapq, threads):
    extra = [("c2", 19_950, "100M", 0), ("c1", 30_000, "50S50I", 0), ("c1", 1150, "100S", 0),
             ("c1", 1100, "20M5000N20M", 0)]
    bam = build_bam(tmp_path / "t.bam", extra)
    counts, argv = counter.basecounts(str(bam), BINS, min_mapq, EXCLUDE, str(tmp_path), threads)
    assert counts == bedcov(bam, BINS, min_mapq, tmp_path)
    assert counts[1] > 100_000 and counts[0] > 0  # a real count, not zeros
    assert ("-@" in argv) == (threads > 1)


def test_a_bam_not_sorted_by_coordinate_is_refused(tmp_path):
    header = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": c, "LN": n} for c, n in CONTIGS.items()]}
    bam = tmp_path / "unsorted.bam"
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for name, pos in (("a", 5000), ("b", 100)):
            out.write(_read(out.header, name, "c1", pos, "100M"))
    with pytest.raises(counter.CounterUnavailable, match=r"exit 3: bincount: the BAM is not coordinate-sorted \(b\)"):
        counter.basecounts(str(bam), BINS, 0, EXCLUDE, str(tmp_path))


def test_a_truncated_bam_is_refused(tmp_path):
    bam = build_bam(tmp_path / "t.bam")
    cut = tmp_path / "cut.bam"
    cut.write_bytes(bam.read_bytes()[: bam.stat().st_size // 2])
    with pytest.raises(counter.CounterUnavailable, match="bincount failed"):
        counter.basecounts(str(cut), BINS, 0, EXCLUDE, str(tmp_path))


def test_it_is_built_once_into_the_first_folder_it_can_write(tmp_path, monkeypatch):
    """Into the second folder when the first cannot be made (a file stands there), once for
    four callers at the same time, and found again without a compiler."""
    blocked = tmp_path / "file"
    blocked.write_text("")
    folders = [blocked / "libexec", tmp_path / "cache"]
    monkeypatch.setattr(counter, "_build_dirs", lambda: folders)
    code = ("import sys; from localgene.cnvkit import coverage_counter as c; "
            f"c._build_dirs = lambda: [__import__('pathlib').Path(p) for p in {[str(f) for f in folders]!r}]; "
            "print(c.binary())")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    built = {p.communicate()[0].strip() for p in procs}
    assert [p.returncode for p in procs] == [0] * 4
    assert len(built) == 1 and Path(built.pop()).parent == tmp_path / "cache"
    assert [p.name for p in (tmp_path / "cache").glob("bincount-*")] == [counter.binary(build=False).name]
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no cc: the built one is still found
    monkeypatch.delenv("CC", raising=False)
    assert counter.binary().parent == tmp_path / "cache"
