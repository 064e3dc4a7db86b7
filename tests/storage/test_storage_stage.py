"""Staging a job's inputs from a real endpoint through the shared cache."""

import multiprocessing
import os
import threading

import boto3
import pytest
from s3_endpoint import MiB, make_config, random_bytes, stage_in_child

from localgene.errors import InputNotFound, StorageError
from localgene.storage import STAGED_DIR, Cache, stage_inputs

BIG = 24 * MiB  # > multipart threshold (8 MiB): multipart upload, ranged parallel download


@pytest.fixture
def cache(tmp_path):
    return Cache(tmp_path / "cache")


@pytest.fixture
def big_bam(s3, bucket, tmp_path):
    data = random_bytes(BIG)
    path = str(tmp_path / "_lg_big.bam")  # not a shared name: tests run in parallel
    with open(path, "wb") as fh:
        fh.write(data)
    s3.upload_file(path, bucket, "cnvkit/Son_S2.sort.mkdup.bam")  # boto3 multipart upload
    os.unlink(path)
    s3.put_object(Bucket=bucket, Key="cnvkit/Son_S2.sort.mkdup.bam.bai", Body=b"bai-data")
    etag = s3.head_object(Bucket=bucket, Key="cnvkit/Son_S2.sort.mkdup.bam")["ETag"]
    assert etag.strip('"').endswith("-3")  # really a multipart object
    return f"s3a://{bucket}/cnvkit/Son_S2.sort.mkdup.bam", data


def _cache_is_clean(cache: Cache) -> None:
    assert list((cache.path / "tmp").iterdir()) == []
    assert cache.entries() == []
    objects = [p for p in (cache.path / "objects").rglob("*") if p.is_file()]
    assert objects == []


def test_stage_multipart_object_and_companions(s3, bucket, big_bam, config, cache, tmp_path, s3_server):
    url, data = big_bam
    s3.put_object(Bucket=bucket, Key="cnvkit/Father.bam", Body=b"father-bam")
    s3.put_object(Bucket=bucket, Key="cnvkit/Father.bai", Body=b"father-bai")
    s3.put_object(Bucket=bucket, Key="ref/hg38.filtered.fa", Body=b">chr1\nACGT\n")
    s3.put_object(Bucket=bucket, Key="ref/hg38.filtered.fa.fai", Body=b"chr1\t4\t6\t4\t5\n")
    local_bed = tmp_path / "targets.bed"
    local_bed.write_text("chr1\t0\t4\n")
    fields = {
        "experimental_inputs": [url],
        "control_inputs": [f"s3://{bucket}/cnvkit/Father.bam"],
        "ref": f"s3a://{bucket}/ref/hg38.filtered.fa",
        "bed": f"file://{local_bed}",
    }
    calls = []
    job = tmp_path / "job1"
    local = stage_inputs(fields, config, cache, job, on_progress=lambda d, t: calls.append((d, t)))

    staged = job / STAGED_DIR
    assert local == {
        "experimental_inputs": [str(staged / "Son_S2.sort.mkdup.bam")],
        "control_inputs": [str(staged / "Father.bam")],
        "ref": str(staged / "hg38.filtered.fa"),
        "bed": str(local_bed),  # local files are used in place, not copied
    }
    assert (staged / "Son_S2.sort.mkdup.bam").read_bytes() == data
    assert (staged / "Son_S2.sort.mkdup.bam.bai").read_bytes() == b"bai-data"
    assert (staged / "Father.bai").read_bytes() == b"father-bai"
    assert (staged / "hg38.filtered.fa.fai").read_bytes().startswith(b"chr1\t4")
    for link in staged.iterdir():
        assert link.is_symlink() and os.readlink(link).startswith(str(cache.path))
        assert os.path.basename(os.readlink(link)) == link.name  # basename kept in the cache too
    # the index is no older than its data (samtools and the workflow compare mtimes)
    bam = staged / "Son_S2.sort.mkdup.bam"
    assert os.stat(bam.with_name(bam.name + ".bai")).st_mtime >= os.stat(bam).st_mtime
    # progress: monotonic, ends at the total of every object fetched (index files included)
    total = BIG + 8 + 10 + 10 + 11 + 13
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) >= 3
    # downloaded exactly once, on the wire
    assert s3_server.app.bytes_for(bucket, "cnvkit/Son_S2.sort.mkdup.bam") == BIG
    # every entry is pinned for this job until released
    assert {e.pinned_by for e in cache.entries()} == {(str(job),)}
    assert cache.release(str(job)) == 6
    assert cache.usage().pinned_entries == 0


def test_second_job_downloads_nothing_new(big_bam, config, cache, tmp_path, s3_server, bucket):
    url, data = big_bam
    fields = {"control_inputs": [url]}
    first = stage_inputs(fields, config, cache, tmp_path / "job1", job_id="job1")
    served = s3_server.app.bytes_for(bucket, "cnvkit/Son_S2.sort.mkdup.bam")
    target = os.path.realpath(first["control_inputs"][0])
    before = os.stat(target)
    calls = []
    second = stage_inputs(fields, config, Cache(cache.path), tmp_path / "job2", job_id="job2",
                          on_progress=lambda d, t: calls.append((d, t)))
    assert s3_server.app.bytes_for(bucket, "cnvkit/Son_S2.sort.mkdup.bam") == served == BIG
    assert os.path.realpath(second["control_inputs"][0]) == target
    after = os.stat(target)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert calls[-1] == (BIG + 8, BIG + 8)
    assert {e.pinned_by for e in cache.entries()} == {("job1", "job2")}


def test_rewritten_object_is_a_new_entry(s3, bucket, config, cache, tmp_path):
    s3.put_object(Bucket=bucket, Key="t.bed", Body=b"version-1")
    a = stage_inputs({"bed": f"s3a://{bucket}/t.bed"}, config, cache, tmp_path / "j1")
    s3.put_object(Bucket=bucket, Key="t.bed", Body=b"version-two")
    b = stage_inputs({"bed": f"s3a://{bucket}/t.bed"}, config, cache, tmp_path / "j2")
    assert open(a["bed"], "rb").read() == b"version-1"
    assert open(b["bed"], "rb").read() == b"version-two"
    assert len(cache.entries()) == 2


def test_threads_staging_the_same_object_download_once(big_bam, config, cache, tmp_path, s3_server, bucket):
    url, data = big_bam
    results, errors = [], []

    def run(i):
        try:
            results.append(stage_inputs({"ref": url}, config, Cache(cache.path), tmp_path / f"j{i}"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert s3_server.app.bytes_for(bucket, "cnvkit/Son_S2.sort.mkdup.bam") == BIG
    assert len({os.path.realpath(r["ref"]) for r in results}) == 1


def test_two_processes_staging_the_same_object_download_once(big_bam, cache, tmp_path, s3_server, bucket):
    url, data = big_bam
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=stage_in_child,
                         args=({"ref": url}, s3_server.endpoint, str(cache.path),
                               str(tmp_path / f"p{i}"), barrier, None, queue))
             for i in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert s3_server.app.bytes_for(bucket, "cnvkit/Son_S2.sort.mkdup.bam") == BIG
    paths = {os.path.realpath(r["ref"]) for r in results}
    assert len(paths) == 1
    assert open(paths.pop(), "rb").read() == data
    assert len(cache.entries()) == 2  # the BAM and its .bai, once each


def test_server_stopped_mid_transfer(moto_process, tmp_path, cache):
    server = moto_process()
    s3 = boto3.client("s3", endpoint_url=server.endpoint)
    s3.create_bucket(Bucket="genes")
    src = tmp_path / "big.bam"
    src.write_bytes(random_bytes(64 * MiB))
    s3.upload_file(str(src), "genes", "big.bam")
    job = tmp_path / "job"

    def kill_server(done, total):
        if 0 < done < total:
            server.kill()

    with pytest.raises(StorageError) as info:
        # two requests in flight: the socket buffers cannot already hold the whole object
        stage_inputs({"control_inputs": ["s3a://genes/big.bam"]},
                     make_config(server.endpoint, max_concurrency=2), cache, job,
                     on_progress=kill_server)
    msg = str(info.value)
    assert msg.startswith("download of s3a://genes/big.bam failed: ")
    assert server.endpoint in msg and ("cannot reach" in msg or "connection" in msg)
    assert msg.endswith(" (after 3 attempts)")  # retried while the endpoint stayed down
    assert info.value.http_status == 502
    _cache_is_clean(cache)
    assert not (job / STAGED_DIR / "big.bam").exists()
    assert cache.pinned_jobs() == []


def test_crashed_stager_leaves_nothing_trusted(big_bam, cache, tmp_path, s3_server, config):
    url, data = big_bam
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=stage_in_child,
                       args=({"ref": url}, s3_server.endpoint, str(cache.path),
                             str(tmp_path / "crashed"), None, 4 * MiB))
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == -9  # SIGKILLed mid-download
    leftovers = list((cache.path / "tmp").iterdir())
    assert leftovers, "the crash should have left a partial temp file"
    assert all(e.path.name.endswith(".bai") for e in cache.entries())  # no BAM entry
    local = stage_inputs({"ref": url}, config, cache, tmp_path / "next")
    assert open(local["ref"], "rb").read() == data
    assert list((cache.path / "tmp").iterdir()) == []


def test_corrupt_download_is_refused(monkeypatch, big_bam, config, cache, tmp_path):
    from localgene.storage import stage as stage_mod

    url, _ = big_bam
    monkeypatch.setattr(stage_mod, "_md5_parts", lambda path, part: "0" * 32 + "-3")
    with pytest.raises(StorageError, match=r"download of .*Son_S2.sort.mkdup.bam is corrupt: its "
                                           r"multipart ETag is 0+-3"):
        stage_inputs({"ref": url}, config, cache, tmp_path / "job")
    assert [e for e in cache.entries() if e.path.name.endswith(".bam")] == []
    assert list((cache.path / "tmp").iterdir()) == []


def test_object_rewritten_during_download(s3, bucket, config, cache, tmp_path):
    s3.put_object(Bucket=bucket, Key="a.bed", Body=b"old")
    client = boto3.client("s3", endpoint_url=config.endpoint_url)

    def rewrite(**kwargs):
        s3.put_object(Bucket=bucket, Key="a.bed", Body=b"new!")

    client.meta.events.register_first("before-call.s3.GetObject", rewrite)
    with pytest.raises(StorageError, match="the object changed while it was being downloaded"):
        stage_inputs({"bed": f"s3a://{bucket}/a.bed"}, config, cache, tmp_path / "job",
                     client=client)
    _cache_is_clean(cache)


def test_missing_input_at_launch(bucket, config, cache, tmp_path):
    with pytest.raises(InputNotFound, match=r"^ref: s3a://.*/gone.fa does not exist"):
        stage_inputs({"ref": f"s3a://{bucket}/gone.fa"}, config, cache, tmp_path / "job")


def test_progress_callback_can_cancel(big_bam, config, cache, tmp_path):
    url, _ = big_bam

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done < total:
            raise Cancelled()

    with pytest.raises(Cancelled):
        stage_inputs({"ref": url}, config, cache, tmp_path / "job", on_progress=cancel)
    assert [e for e in cache.entries() if e.path.name.endswith(".bam")] == []
    assert list((cache.path / "tmp").iterdir()) == []
    assert cache.pinned_jobs() == []


def test_local_only_job_needs_no_endpoint(tmp_path, cache):
    (tmp_path / "a.bam").write_bytes(b"a")
    local = stage_inputs({"control_inputs": [str(tmp_path / "a.bam")]}, None, cache, tmp_path / "job")
    assert local == {"control_inputs": [str(tmp_path / "a.bam")]}
    assert not (tmp_path / "job" / STAGED_DIR).exists()


def test_endpoint_stopped_mid_staging_is_retried_then_fails_the_job_with_the_reason(moto_process, tmp_path,
                                                                                    monkeypatch):
    from localgene import settings
    from localgene.jobs.bodies import new_record
    from localgene.jobs.status import Status
    from localgene.run import runner
    from localgene.store import Store

    server = moto_process()
    s3 = boto3.client("s3", endpoint_url=server.endpoint)
    s3.create_bucket(Bucket="genes")
    src = tmp_path / "N1.bam"
    src.write_bytes(random_bytes(64 * MiB))
    s3.upload_file(str(src), "genes", "N1.bam")
    monkeypatch.setenv("LOCALGENE_S3_ENDPOINT_URL", server.endpoint)
    cfg = settings.load({"LOCALGENE_HOME": str(tmp_path / "home")})
    store = Store.open(cfg)
    local = tmp_path / "T1.bam"
    local.write_bytes(b"x")
    body = {"experimental_inputs": [str(local)], "control_inputs": ["s3a://genes/N1.bam"],
            "output_dir": str(tmp_path / "out"), "ref": str(local), "bed": str(local)}
    record = store.submit(new_record("p", "me", "cnvkit", body))
    assert store.claim(record.instance_id)
    other = store.submit(new_record("p", "me", "cnvkit", body))  # another job: untouched

    def stop_endpoint(done, total):
        if 0 < done < total:
            server.kill()

    status = runner.execute_job(store, record.instance_id, cfg=cfg, cores=1, on_staging=stop_endpoint)
    job = store.find(record.instance_id)
    assert status is Status.FAILED and job.status is Status.FAILED
    assert job.message.startswith("download of s3a://genes/N1.bam failed: ") and server.endpoint in job.message
    assert job.message.endswith(" (after 3 attempts)") and "Traceback" not in job.message
    assert store.find(other.instance_id).status is Status.LAUNCHING
    assert Cache(cfg.cache_dir).pinned_jobs() == []  # the failed job holds nothing in the cache
