"""The cache on its own: LRU eviction that respects pins, locking, clean-up after crashes."""

import os
import threading
import time

import pytest

from localgene.errors import StorageError
from localgene.storage import Cache
from localgene.storage.cache import cache_key


def key(name: str) -> str:
    return cache_key("http://127.0.0.1:1", "bucket", name, "etag-" + name, 100)


def filler(content: bytes, calls: list | None = None, delay: float = 0.0):
    def fill(tmp):
        if calls is not None:
            calls.append(tmp)
        time.sleep(delay)
        tmp.write_bytes(content)

    return fill


def put(cache: Cache, name: str, job: str, size: int = 100) -> os.PathLike:
    path, hit = cache.acquire(key(name), job_id=job, name=name, size=size,
                              fill=filler(b"x" * size))
    return path


def names(cache: Cache) -> list[str]:
    return [e.path.name for e in cache.entries()]


def test_lru_eviction_respects_pins(tmp_path):
    cache = Cache(tmp_path / "c", max_bytes=250)
    put(cache, "a", "job-a")  # oldest, stays pinned
    time.sleep(0.01)
    put(cache, "b", "job-b")
    cache.release("job-b")
    time.sleep(0.01)
    put(cache, "c", "job-c")  # needs room: b (unpinned) goes, a (older but pinned) stays
    assert names(cache) == ["a", "c"]
    assert (tmp_path / "c" / "objects").exists()
    assert cache.usage().total_bytes == 200


def test_pinned_entries_may_exceed_the_bound(tmp_path):
    cache = Cache(tmp_path / "c", max_bytes=150)
    for n in ("a", "b", "c"):
        put(cache, n, "running-job")
    assert names(cache) == ["a", "b", "c"]  # a running job's files are never evicted
    usage = cache.usage()
    assert (usage.total_bytes, usage.pinned_entries, usage.max_bytes) == (300, 3, 150)
    assert cache.release("running-job") == 3  # unpinning brings the cache back within bounds
    assert names(cache) == ["c"]


def test_a_hit_refreshes_recency(tmp_path):
    cache = Cache(tmp_path / "c", max_bytes=250)
    put(cache, "a", "j1")
    time.sleep(0.01)
    put(cache, "b", "j1")
    time.sleep(0.01)
    cache.release("j1")
    calls = []
    path, hit = cache.acquire(key("a"), job_id="j2", name="a", size=100,
                              fill=filler(b"y" * 100, calls))
    assert hit and calls == [] and path.read_bytes() == b"x" * 100  # no second fill
    cache.release("j2")
    time.sleep(0.01)
    put(cache, "c", "j3")
    assert names(cache) == ["a", "c"]  # b was the least recently used


def test_locked_entry_is_not_evicted(tmp_path):
    cache = Cache(tmp_path / "c")
    put(cache, "a", "j")
    cache.release("j")
    with cache._locked(key("a")):  # e.g. another process is about to pin it
        assert cache.evict(0) == []
    assert cache.evict(0) == [key("a")]
    assert not (tmp_path / "c" / "locks" / f"{key('a')}.lock").exists()


def test_one_fill_for_concurrent_threads(tmp_path):
    cache_dir = tmp_path / "c"
    Cache(cache_dir)
    calls, results = [], []

    def run(i):
        results.append(Cache(cache_dir).acquire(key("a"), job_id=f"j{i}", name="a", size=100,
                                                fill=filler(b"z" * 100, calls, delay=0.2)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(hit for _, hit in results) == [False] + [True] * 5
    assert {str(p) for p, _ in results} == {str(results[0][0])}
    assert Cache(cache_dir).entries()[0].pinned_by == tuple(sorted(f"j{i}" for i in range(6)))


def test_failed_fill_leaves_nothing(tmp_path):
    cache = Cache(tmp_path / "c")

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise StorageError("connection lost")

    with pytest.raises(StorageError):
        cache.acquire(key("a"), job_id="j", name="a", size=100, fill=broken)
    assert cache.entries() == [] and list((tmp_path / "c" / "tmp").iterdir()) == []
    with pytest.raises(StorageError, match="downloaded 4 bytes, expected 100"):
        cache.acquire(key("a"), job_id="j", name="a", size=100, fill=filler(b"half"))
    assert cache.entries() == [] and cache.pinned_jobs() == []


def test_crash_leftovers_are_cleaned(tmp_path):
    cache = Cache(tmp_path / "c")
    k = key("a")
    stale = tmp_path / "c" / "tmp" / f"{k}.deadbeef.part"
    stale.write_bytes(b"half a file")
    sidecar = tmp_path / "c" / "tmp" / f"{k}.deadbeef.part.a1B2"
    sidecar.write_bytes(b"s3transfer temp")
    orphan = tmp_path / "c" / "objects" / k[:2] / k
    orphan.mkdir(parents=True)
    (orphan / "a").write_bytes(b"x" * 100)  # renamed, but the index never recorded it
    # an index row whose file vanished is not trusted either
    put(cache, "b", "j")
    for entry in cache.entries():
        os.chmod(entry.path, 0o644)
        entry.path.write_bytes(b"short")
    again = Cache(tmp_path / "c")
    assert list((tmp_path / "c" / "tmp").iterdir()) == []
    assert not orphan.exists()
    assert again.lookup(key("b")) is None  # wrong size: a miss, refilled on next use
    calls = []
    path, hit = again.acquire(key("b"), job_id="j", name="b", size=100,
                              fill=filler(b"y" * 100, calls))
    assert not hit and len(calls) == 1 and path.read_bytes() == b"y" * 100


def test_cached_files_are_read_only(tmp_path):
    cache = Cache(tmp_path / "c")
    path = put(cache, "a", "j")
    assert not os.stat(path).st_mode & 0o222


def test_cache_key_covers_endpoint_bucket_key_etag_size():
    base = ("http://e", "b", "k", "etag", 1)
    variants = [("http://f", "b", "k", "etag", 1), ("http://e", "c", "k", "etag", 1),
                ("http://e", "b", "l", "etag", 1), ("http://e", "b", "k", "etag2", 1),
                ("http://e", "b", "k", "etag", 2)]
    assert len({cache_key(*v) for v in [base, *variants]}) == 6
