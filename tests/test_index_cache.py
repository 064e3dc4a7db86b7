"""The shared index cache: built once per reference content, reused, rebuilt when the content
changes, safe when two processes need the same index at once, nothing half-built left behind."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import time
from pathlib import Path

import pytest

from localgene import index_cache
from localgene.index_cache import IndexBuildFailed, ensure_index

from pipeline_helpers import write_fasta, write_gtf


def counting_build(counter: Path, seconds: float = 0.0):
    """A builder that appends to ``counter`` (one line per build) and writes one file."""
    def build(tmp: Path) -> None:
        with open(counter, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(seconds)
        (tmp / "index.bin").write_bytes(b"built")
    return build


def _ensure_in_child(cache, fasta, counter, out_q):
    lines = []
    entry = ensure_index(cache, "test", {"fasta": fasta}, counting_build(Path(counter), 3.0), lines.append,
                         version="v1", progress_seconds=0.5)
    out_q.put((str(entry), lines))


def test_two_processes_at_once_build_it_once_and_both_get_it(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa")
    counter = tmp_path / "builds.txt"
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_ensure_in_child, args=(tmp_path / "cache", fasta, counter, q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(counter.read_text().splitlines()) == 1, "the index was built by exactly one process"
    (entry_a, lines_a), (entry_b, lines_b) = results
    assert entry_a == entry_b and (Path(entry_a) / "index.bin").read_bytes() == b"built"
    logs = "\n".join(lines_a + lines_b)
    assert "building test index" in logs and "still building" in logs, "progress while building"
    assert "waiting for it" in logs and "built by another job while this one waited" in logs
    assert not list((tmp_path / "cache" / "test").glob(".*.tmp")), "no temporary folder left"


def test_reused_by_content_not_path_or_mtime_and_rebuilt_when_the_fasta_changes(tmp_path):
    cache, counter = tmp_path / "cache", tmp_path / "builds.txt"
    fasta = write_fasta(tmp_path / "a" / "g.fa")
    first = ensure_index(cache, "test", {"fasta": fasta}, counting_build(counter), lambda s: None, version="v1")
    copy = tmp_path / "b" / "other-name.fa"
    copy.parent.mkdir()
    copy.write_bytes(fasta.read_bytes())
    os.utime(fasta, (1, 1))
    lines = []
    assert ensure_index(cache, "test", {"fasta": copy}, counting_build(counter), lines.append, version="v1") == first
    assert ensure_index(cache, "test", {"fasta": fasta}, counting_build(counter), lines.append, version="v1") == first
    assert any(line.startswith("index cache: reusing") for line in lines)
    assert len(counter.read_text().splitlines()) == 1

    write_fasta(fasta, seed=2)  # new content
    changed = ensure_index(cache, "test", {"fasta": fasta}, counting_build(counter), lambda s: None, version="v1")
    assert changed != first and len(counter.read_text().splitlines()) == 2
    newer_tool = ensure_index(cache, "test", {"fasta": fasta}, counting_build(counter), lambda s: None, version="v2")
    assert newer_tool not in (first, changed) and len(counter.read_text().splitlines()) == 3
    meta = json.loads((changed / "meta.json").read_text())
    assert meta["files"] == {"index.bin": 5} and meta["version"] == "v1" and meta["kind"] == "test"


def test_a_damaged_entry_is_rebuilt_and_a_failed_build_leaves_nothing(tmp_path):
    cache, counter = tmp_path / "cache", tmp_path / "builds.txt"
    fasta = write_fasta(tmp_path / "g.fa")
    entry = ensure_index(cache, "test", {"fasta": fasta}, counting_build(counter), lambda s: None, version="v1")
    (entry / "index.bin").write_bytes(b"cut")  # a file lost bytes: the entry no longer verifies
    again = ensure_index(cache, "test", {"fasta": fasta}, counting_build(counter), lambda s: None, version="v1")
    assert again == entry and (entry / "index.bin").read_bytes() == b"built"
    assert len(counter.read_text().splitlines()) == 2

    def broken(tmp: Path) -> None:
        (tmp / "partial").write_bytes(b"x")
        raise IndexBuildFailed("the tool crashed")

    other = write_fasta(tmp_path / "h.fa", seed=3)
    with pytest.raises(IndexBuildFailed, match="crashed"):
        ensure_index(cache, "test", {"fasta": other}, broken, lambda s: None, version="v1")
    assert sorted(p.name for p in (cache / "test").iterdir()) == [entry.name], "no half-built entry or tmp folder"


def test_real_builders_faidx_dict_bwa_hisat2(tmp_path):
    cache = tmp_path / "cache"
    fasta = write_fasta(tmp_path / "g.fa", contigs=(("chr1", 4000), ("chr2", 3000)))
    gtf = write_gtf(tmp_path / "genes.gtf")
    lines: list[str] = []
    fai = index_cache.ensure_faidx(cache, fasta, lines.append) / "reference.fa.fai"
    assert [row.split("\t")[:2] for row in fai.read_text().splitlines()] == [["chr1", "4000"], ["chr2", "3000"]]
    dictionary = (index_cache.ensure_dict(cache, fasta, lines.append) / "reference.dict").read_text()
    assert "@SQ\tSN:chr1\tLN:4000" in dictionary
    bwa = index_cache.ensure_bwa(cache, fasta, lines.append)
    assert {p.name for p in bwa.iterdir()} >= {"reference.bwt", "reference.sa", "reference.pac", "meta.json"}
    hisat = index_cache.ensure_hisat2(cache, fasta, gtf, lines.append)
    assert (hisat / "reference.1.ht2").is_file()
    assert (hisat / "splice_sites.txt").read_text().split() == ["chr1", "399", "600", "+"]
    # bwa aligns a read taken from the genome against the cached prefix.
    seq = "".join(fasta.read_text().splitlines()[1:])[1000:1060]
    reads = tmp_path / "r.fq"
    reads.write_text(f"@r1\n{seq}\n+\n{'I' * 60}\n")
    sam = subprocess.run(["bwa", "mem", str(bwa / "reference"), str(reads)], capture_output=True, text=True,
                         check=True).stdout
    row = next(line for line in sam.splitlines() if not line.startswith("@")).split("\t")
    assert row[2] == "chr1" and row[3] == "1001"
    assert json.loads((bwa / "meta.json").read_text())["version"].startswith("bwa Version: 0.7")
    # A second call reuses every one of them.
    lines.clear()
    index_cache.ensure_bwa(cache, fasta, lines.append)
    index_cache.ensure_hisat2(cache, fasta, gtf, lines.append)
    assert all(line.startswith("index cache: reusing") for line in lines), lines


def test_link_entry_puts_every_file_in_a_job_folder(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa")
    entry = index_cache.ensure_faidx(tmp_path / "cache", fasta, lambda s: None)
    links = index_cache.link_entry(entry, tmp_path / "job" / "inputs" / "reference")
    assert [link.name for link in links] == ["reference.fa.fai"]
    assert links[0].is_symlink() and links[0].resolve() == (entry / "reference.fa.fai").resolve()
