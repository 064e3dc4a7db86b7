"""The shared index cache: built once per reference content, reused, rebuilt when the content
changes, safe when two processes need the same index at once, nothing half-built left behind."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_helpers import write_fasta, write_gtf

from localgene import fileio
from localgene.pipelines import index_builders, index_cache
from localgene.pipelines.index_cache import IndexBuildFailed, ensure_index

REPO = Path(__file__).resolve().parents[2]


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
    fai = index_builders.ensure_faidx(cache, fasta, lines.append) / "reference.fa.fai"
    assert [row.split("\t")[:2] for row in fai.read_text().splitlines()] == [["chr1", "4000"], ["chr2", "3000"]]
    dictionary = (index_builders.ensure_dict(cache, fasta, lines.append) / "reference.dict").read_text()
    assert "@SQ\tSN:chr1\tLN:4000" in dictionary
    bwa = index_builders.ensure_bwa(cache, fasta, lines.append)
    assert {p.name for p in bwa.iterdir()} >= {"reference.bwt", "reference.sa", "reference.pac", "meta.json"}
    hisat = index_builders.ensure_hisat2(cache, fasta, gtf, lines.append)
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
    index_builders.ensure_bwa(cache, fasta, lines.append)
    index_builders.ensure_hisat2(cache, fasta, gtf, lines.append)
    assert all(line.startswith("index cache: reusing") for line in lines), lines


def test_link_entry_puts_every_file_in_a_job_folder(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa")
    entry = index_builders.ensure_faidx(tmp_path / "cache", fasta, lambda s: None)
    links = index_cache.link_entry(entry, tmp_path / "job" / "inputs" / "reference")
    assert [link.name for link in links] == ["reference.fa.fai"]
    assert links[0].is_symlink() and links[0].resolve() == (entry / "reference.fa.fai").resolve()


# -- the size bound (LOCALGENE_INDEX_CACHE_MAX_GB) ------------------------------------------


def sized_build(size: int):
    def build(tmp: Path) -> None:
        (tmp / "index.bin").write_bytes(b"x" * size)
    return build


def ended_job(root: Path, name: str) -> Path:
    """A job folder whose run has ended: it has a HOLD file that no process holds."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / index_cache.HOLD).write_text("")
    return folder


def build_entries(tmp_path: Path, names: list[str], size: int = 10_000) -> dict[str, Path]:
    """One 'test' entry per name (its own FASTA), each used by an ended job, built in order
    with increasing last-use times."""
    cache = tmp_path / "cache"
    out = {}
    for i, name in enumerate(names):
        fasta = write_fasta(tmp_path / "fa" / f"{name}.fa", seed=100 + i)
        out[name] = ensure_index(cache, "test", {"fasta": fasta}, sized_build(size), lambda s: None, version="v1",
                                 holder=ended_job(tmp_path / "jobs", name), max_bytes=None)
        os.utime(out[name], (1_000_000 + i, 1_000_000 + i))
    return out


def test_least_recently_used_entries_are_removed_first_and_a_use_counts(tmp_path):
    cache = tmp_path / "cache"
    built = build_entries(tmp_path, ["a", "b", "c"])
    # a use of "a" (by a new job) makes it the most recently used
    again = ensure_index(cache, "test", {"fasta": tmp_path / "fa" / "a.fa"}, sized_build(1), lambda s: None,
                         version="v1", holder=ended_job(tmp_path / "jobs", "a2"), max_bytes=None)
    assert again == built["a"] and (again / "index.bin").stat().st_size == 10_000, "reused, not rebuilt"
    assert [e["key"] for e in index_cache.entries(cache)] == [built[n].name for n in ("b", "c", "a")]
    one = index_cache.entries(cache)[0]["bytes"]
    assert one > 10_000  # the files and meta.json

    # a new entry built with room for two: the two least recently used go, "b" first
    lines: list[str] = []
    fasta = write_fasta(tmp_path / "fa" / "d.fa", seed=200)
    new = ensure_index(cache, "test", {"fasta": fasta}, sized_build(10_000), lines.append, version="v1",
                       holder=ended_job(tmp_path / "jobs", "d"), max_bytes=2 * one + 100)
    assert sorted(p.name for p in (cache / "test").iterdir()) == sorted([built["a"].name, new.name])
    removed = [line for line in lines if line.startswith("index cache: removed")]
    assert [line.split()[5] for line in removed] == [built["b"].name[:12], built["c"].name[:12]]
    assert not (cache / "leases" / f"test-{built['b'].name}").exists(), "its leases go with it"
    # a removed entry is simply built again when a job needs it
    counter = tmp_path / "builds.txt"
    rebuilt = ensure_index(cache, "test", {"fasta": tmp_path / "fa" / "b.fa"}, counting_build(counter),
                           lambda s: None, version="v1", holder=ended_job(tmp_path / "jobs", "b2"), max_bytes=None)
    assert rebuilt == built["b"] and counter.read_text().count("\n") == 1


def test_the_bound_comes_from_the_environment(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    built = build_entries(tmp_path, ["a"])
    monkeypatch.setenv("LOCALGENE_INDEX_CACHE_MAX_GB", "0")
    lines: list[str] = []
    new = ensure_index(cache, "test", {"fasta": write_fasta(tmp_path / "fa" / "n.fa", seed=9)}, sized_build(10),
                       lines.append, version="v1", holder=ended_job(tmp_path / "jobs", "n"))
    assert not built["a"].exists() and new.exists(), "the entry just built is kept, even above the bound"
    assert any("above the bound of 0.00 GB" in line for line in lines), lines
    monkeypatch.setenv("LOCALGENE_INDEX_CACHE_MAX_GB", "lots")
    from localgene import settings
    from localgene.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="LOCALGENE_INDEX_CACHE_MAX_GB: must be a number of GB"):
        settings.load()


HOLDER = """
import sys
from localgene import fileio
from localgene.pipelines import index_cache
kept = index_cache.hold(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
"""


def test_an_entry_a_running_job_uses_is_never_removed_and_its_links_keep_working(tmp_path):
    cache = tmp_path / "cache"
    built = build_entries(tmp_path, ["old", "used"])
    job = tmp_path / "jobs" / "running"
    job.mkdir(parents=True)
    # a running job: another process holds the job folder (as the Snakefile of a pipeline run does)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(job)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert proc.stdout.readline().strip() == "held"
        entry = ensure_index(cache, "test", {"fasta": tmp_path / "fa" / "used.fa"}, sized_build(1), lambda s: None,
                             version="v1", holder=job, max_bytes=None)
        links = index_cache.link_entry(entry, job / "inputs" / "index")
        os.utime(entry, (1, 1))  # the least recently used of all
        assert index_cache.live_leases(cache, "test", entry.name) == [str(job.absolute())]

        lines: list[str] = []
        assert index_cache.evict(cache, 0, log=lines.append) == [built["old"]]
        assert entry.exists() and all(len(link.read_bytes()) == 10_000 for link in links if link.name == "index.bin")
        assert any(f"used by {job.absolute()}" in line for line in lines), lines
    finally:
        proc.stdin.close()
        proc.wait(timeout=120)
    # the job has ended (its process, and so its lock, is gone): now the entry may go
    assert index_cache.live_leases(cache, "test", entry.name) == []
    assert index_cache.evict(cache, 0, log=lambda s: None) == [entry]
    assert not entry.exists()


def test_an_entry_being_used_now_or_leased_to_a_folder_that_never_said_it_ended_is_kept(tmp_path):
    cache = tmp_path / "cache"
    fasta = write_fasta(tmp_path / "g.fa")
    plain = tmp_path / "jobs" / "by-hand"  # no HOLD file: live while the folder exists
    plain.mkdir(parents=True)
    entry = ensure_index(cache, "test", {"fasta": fasta}, sized_build(100), lambda s: None, version="v1",
                         holder=plain, max_bytes=None)
    assert index_cache.evict(cache, 0, log=lambda s: None) == []
    plain.rmdir()
    with fileio.locked(cache / "locks" / f"test-{entry.name}.lock"):  # a job checking or linking it
        lines: list[str] = []
        assert index_cache.evict(cache, 0, log=lines.append) == []
        assert any("being used now" in line for line in lines), lines
    assert index_cache.evict(cache, 0, log=lambda s: None) == [entry]


def test_the_default_holder_is_the_current_folder(tmp_path, monkeypatch):
    job = ended_job(tmp_path / "jobs", "step")
    monkeypatch.chdir(job)
    entry = ensure_index(tmp_path / "cache", "test", {"fasta": write_fasta(tmp_path / "g.fa")}, sized_build(1),
                         lambda s: None, version="v1", max_bytes=None)
    leases = list((tmp_path / "cache" / "leases" / f"test-{entry.name}").iterdir())
    assert [p.read_text().strip() for p in leases] == [str(job)]
