"""Control coverage is computed once and reused across jobs (localgene.cnvkit.coverage_cache,
rules/coverage.smk, localgene/cnvkit/coverage_step.py).

The first tests exercise the cache and its lock directly (fast); the ``workflow`` tests run the
real workflow on the demo data: two `localgene run` jobs one after the other in one
LOCALGENE_HOME, and plain `snakemake` runs of the coverage steps (with and without the config
key, concurrently, and with other coverage options).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workflow_helpers import run_job

from localgene.cnvkit import coverage_cache as cc
from localgene.cnvkit.options import check_options

ROOT = Path(__file__).resolve().parents[2]
CONTROLS = ("N1", "N2", "N3")
KINDS = ("target", "antitarget")


# --- the cache, its key and its lock ------------------------------------------------------------


def options(conf: str) -> str:
    return cc.normalized_options(check_options({"coverage_conf": conf}, cores=2).steps["coverage"].values)


def test_key_follows_cnvkits_reading_of_the_options():
    assert options("-q 10") == options("--min-mapq 10") == options("--min-mapq=10")
    assert options("-q 10") != options("-q 20")
    assert options("") != options("-c")  # --count changes what CNVkit computes


def test_bam_fingerprint_is_content_not_location(demo_data, tmp_path):
    copy = tmp_path / "elsewhere" / "N1.bam"
    copy.parent.mkdir()
    shutil.copyfile(demo_data / "N1.bam", copy)
    shutil.copyfile(demo_data / "N1.bam.bai", f"{copy}.bai")
    here = cc.bam_fingerprint(demo_data / "N1.bam", demo_data / "N1.bam.bai")
    assert cc.bam_fingerprint(copy, f"{copy}.bai") == here
    assert cc.bam_fingerprint(demo_data / "N2.bam", demo_data / "N2.bam.bai") != here


def test_a_corrupt_entry_is_a_miss(tmp_path):
    cache = cc.CoverageCache(tmp_path / "cache")
    src = tmp_path / "x.cnn"
    src.write_text("chromosome\tstart\tend\n")
    with cache.locked("k" * 64):
        cache.publish("k" * 64, src, {"instance_id": "a"})
        assert cache.lookup("k" * 64)[1]["instance_id"] == "a"
    (cache.entry_dir("k" * 64) / cc.CNN).write_text("truncated")
    assert cache.lookup("k" * 64) is None
    assert not list(cache.entry_dir("k" * 64).glob("*.part"))


def _entry(cache: cc.CoverageCache, key: str, size: int, last_use: float, src: Path) -> None:
    src.write_bytes(b"x" * size)
    with cache.locked(key):
        cache.publish(key, src, {"instance_id": key[0]})
    os.utime(cache.entry_dir(key) / cc.META, (last_use, last_use))


def test_prune_removes_least_recently_used_entries_down_to_the_bound(tmp_path):
    cache = cc.CoverageCache(tmp_path / "cache")
    now = time.time()
    for i, key in enumerate(("a" * 64, "b" * 64, "c" * 64, "d" * 64)):  # a oldest ... d newest
        _entry(cache, key, 10_000, now - 1000 + i * 100, tmp_path / "src.cnn")
    with cache.locked("a" * 64):
        assert cache.lookup("a" * 64) is not None  # a hit makes "a" the most recently used
    meta_bytes = {k: s for k, s, _ in cache.entries()}["a" * 64] - 10_000
    assert cache.prune(2 * (10_000 + meta_bytes)) == ["b" * 64, "c" * 64]
    assert sorted(k for k, _, _ in cache.entries()) == ["a" * 64, "d" * 64]
    assert not cache.entry_dir("b" * 64).exists()
    assert cache.prune(10**9) == []  # within the bound: nothing to do


def test_prune_skips_an_entry_in_use(tmp_path):
    cache = cc.CoverageCache(tmp_path / "cache")
    now = time.time()
    _entry(cache, "a" * 64, 10_000, now - 100, tmp_path / "src.cnn")
    _entry(cache, "b" * 64, 10_000, now, tmp_path / "src.cnn")
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(cache.root), "a" * 64, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        assert cache.prune(0) == ["b" * 64]  # "a" is being read by another job: kept
    finally:
        release.set()
        holder.join(30)
    assert [k for k, _, _ in cache.entries()] == ["a" * 64]
    assert cache.prune(0) == ["a" * 64]


def _hold_lock(root: str, key: str, ready, release) -> None:
    with cc.CoverageCache(root).locked(key):
        ready.set()
        release.wait(30)


def _compute_once(root: str, counter: str, src: str, who: int) -> None:
    cache = cc.CoverageCache(root)
    with cache.locked("a" * 64):
        if cache.lookup("a" * 64) is None:
            with open(counter, "a") as fh:
                fh.write(f"{who}\n")
            time.sleep(0.3)  # a slow computation: the others must wait, not compute too
            cache.publish("a" * 64, src, {"instance_id": str(who)})


def test_concurrent_processes_compute_a_key_once(tmp_path):
    src = tmp_path / "x.cnn"
    src.write_bytes(os.urandom(1 << 16))
    counter = tmp_path / "computed"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_compute_once, args=(str(tmp_path / "c"), str(counter), str(src), i))
             for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(counter.read_text().split()) == 1
    cnn, _ = cc.CoverageCache(tmp_path / "c").lookup("a" * 64)
    assert cnn.read_bytes() == src.read_bytes()


def test_reuse_can_be_switched_off(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGENE_HOME", str(tmp_path))
    monkeypatch.delenv(cc.ENV_REUSE, raising=False)
    assert cc.config_entry() == {"coverage_cache": str(tmp_path / "cache" / "coverage")}
    monkeypatch.setenv(cc.ENV_REUSE, "0")
    assert cc.config_entry() == {}


# --- the workflow -------------------------------------------------------------------------------


def control_logs(job_dir: Path) -> dict[str, str]:
    return {f"{s}.{k}": (job_dir / "logs" / "coverage" / f"{s}.{k}.log").read_text()
            for s in CONTROLS for k in KINDS}


def cnn(job_dir: Path, sample: str, kind: str) -> bytes:
    return (job_dir / "results" / "coverage" / f"{sample}.{kind}coverage.cnn").read_bytes()


def computed(log: str) -> bool:
    """Computed by this job, by either engine (localgene.cnvkit.coverage_engine names it first)."""
    return log.startswith(("$ cnvkit.py coverage ", "# coverage engine: bincount", "# coverage engine: mosdepth"))


@pytest.mark.workflow
def test_a_second_job_reuses_the_first_jobs_control_coverage(demo_data, tmp_path):
    home = tmp_path / "home"
    body = json.loads((demo_data / "job.json").read_text())
    body["output_dir"] = str(tmp_path / "out")
    first = run_job(body, home)
    second = run_job({**body, "experimental_inputs": [f"{demo_data}/T2.bam"]}, home)

    logs1, logs2 = control_logs(first.job_dir), control_logs(second.job_dir)
    assert all(computed(log) and "# computed coverage of" in log for log in logs1.values())
    for name, log in logs2.items():
        sample, kind = name.split(".")
        assert log.startswith(f"# reused coverage of {sample} ({kind}) computed by job {first.instance_id} at "), log
        assert not computed(log) and "# coverage engine" not in log  # nothing was computed
        assert cnn(second.job_dir, sample, kind) == cnn(first.job_dir, sample, kind)
    # The experimental sample's own coverage is always computed.
    assert computed((second.job_dir / "logs" / "coverage" / "T2.target.log").read_text())
    # Same reference, same calls.
    for rel in ("results/reference.cnn", "results/samples/T2.cnr", "results/samples/T2.call.cns"):
        assert (second.job_dir / rel).read_bytes() == (first.job_dir / rel).read_bytes(), rel
    entries = list((home / "cache" / "coverage" / "entries").glob("*/*/meta.json"))
    assert len(entries) == len(CONTROLS) * len(KINDS)
    assert {json.loads(m.read_text())["instance_id"] for m in entries} == {first.instance_id}


def snakemake(job_dir: Path, config: dict, targets: list[str], cores: int = 1) -> subprocess.Popen:
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "config.json").write_text(json.dumps(config))
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(job_dir),
         "--configfile", str(job_dir / "config.json"), "--cores", str(cores), *targets],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ, MPLBACKEND="Agg"),
    )


def finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:]


CONTROL_CNN = [f"results/coverage/{s}.{k}coverage.cnn" for s in CONTROLS for k in KINDS]


@pytest.mark.workflow
def test_concurrent_jobs_compute_each_control_once_and_options_decide(demo_data, tmp_path):
    body = json.loads((demo_data / "job.json").read_text())
    body["output_dir"] = str(tmp_path / "out")
    cache = tmp_path / "cache" / "coverage"

    # Two jobs at once, sharing the controls and a fresh cache; and the same job with plain
    # `snakemake --configfile` (no coverage_cache key) at the same time, as the reference bytes.
    plain = snakemake(tmp_path / "plain", body, CONTROL_CNN)
    a = snakemake(tmp_path / "a", {**body, "coverage_cache": str(cache)}, CONTROL_CNN)
    b = snakemake(tmp_path / "b", {**body, "coverage_cache": str(cache)}, CONTROL_CNN)
    for proc in (plain, a, b):
        finish(proc)

    assert all(computed(log) and "# computed coverage" not in log and "# reused" not in log
               for log in control_logs(tmp_path / "plain").values())
    both = {**{f"a:{k}": v for k, v in control_logs(tmp_path / "a").items()},
            **{f"b:{k}": v for k, v in control_logs(tmp_path / "b").items()}}
    assert sum(map(computed, both.values())) == 6, both  # each control's target and antitarget once
    assert sum(log.startswith("# reused coverage of") for log in both.values()) == 6
    for s in CONTROLS:
        for k in KINDS:
            assert cnn(tmp_path / "a", s, k) == cnn(tmp_path / "b", s, k) == cnn(tmp_path / "plain", s, k)
    assert len(list(cache.glob("entries/*/*/meta.json"))) == 6
    assert not list(cache.rglob("*.part"))

    # Other coverage options miss; the same options spelled differently hit.
    other = snakemake(tmp_path / "q20", {**body, "coverage_conf": "-q 20", "coverage_cache": str(cache)},
                      ["results/coverage/N1.targetcoverage.cnn"])
    same = snakemake(tmp_path / "long", {**body, "coverage_conf": "--min-mapq 10", "coverage_cache": str(cache)},
                     ["results/coverage/N1.targetcoverage.cnn"])
    finish(other)
    finish(same)
    log = (tmp_path / "q20" / "logs" / "coverage" / "N1.target.log").read_text()
    assert computed(log) and "cnvkit.py coverage inputs/bam/N1.bam results/regions/targets.target.bed -q 20 " in log
    assert (tmp_path / "long" / "logs" / "coverage" / "N1.target.log").read_text().startswith("# reused")
    # One step writes a sample's target and antitarget coverage: -q 20 added both of N1's.
    assert len(list(cache.glob("entries/*/*/meta.json"))) == 8
    assert (tmp_path / "long" / "logs" / "coverage" / "N1.antitarget.log").read_text().startswith("# reused")


def test_the_job_process_keeps_the_cache_within_its_bound(tmp_path):
    from localgene import settings
    from localgene.run import runner

    cache = cc.CoverageCache(tmp_path / "home" / "cache" / cc.SUBDIR)
    now = time.time()
    for i, key in enumerate(("a" * 64, "b" * 64, "c" * 64)):
        _entry(cache, key, 600_000, now - 100 + i, tmp_path / "src.cnn")
    unbounded = settings.load({"LOCALGENE_HOME": str(tmp_path / "home")})
    assert runner.prune_coverage_cache(unbounded) == [] and len(cache.entries()) == 3
    bounded = settings.load({"LOCALGENE_HOME": str(tmp_path / "home"), "LOCALGENE_COVERAGE_CACHE_MAX_GB": "0.001"})
    assert runner.prune_coverage_cache(bounded) == ["a" * 64, "b" * 64]  # 1 GiB/1000 holds one 600 kB entry
    assert [k for k, _, _ in cache.entries()] == ["c" * 64]
