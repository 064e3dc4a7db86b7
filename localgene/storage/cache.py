"""A shared, content-addressed cache of downloaded objects, safe across threads and processes.

Layout under ``cache_dir`` (see docs/storage.md)::

    index.sqlite                      entries (size, last use) and pins (entry, job)
    locks/<key>.lock                  one flock(2) lock file per entry
    objects/<key[:2]>/<key>/<name>    the verified file, read-only, under the object's basename
    tmp/<key>.<random>.part           downloads in progress (removed on failure / next use)

``key`` is the SHA-256 of (endpoint, bucket, object key, ETag, size): the same object is one
entry for every job, and an object rewritten under the same key is a new entry.

Rules that make it safe:

* Every fill, hit and eviction of an entry happens while holding its lock (``fcntl.flock`` on
  the entry's lock file), so two stagers of one object (threads or processes) never both
  download it, and a stager waiting on the lock sees the entry only once it is complete.
* A download goes to ``tmp/`` and is renamed into ``objects/`` only after the caller verified
  it; the index row is written before the rename and a row counts only when its file exists with
  the recorded size. Killed processes release their locks (the kernel does it); their temp files
  are removed by the next user of the entry, or by :meth:`Cache.cleanup` at start.
* Entries are pinned by job id while a job may read them; eviction (least recently used first,
  down to ``max_bytes``) never removes a pinned entry, nor one whose lock is held. Pinned
  entries may keep the cache above ``max_bytes``: the bound is a target, not a quota.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from localgene import fileio
from localgene.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    relpath TEXT NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pins (
    key TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (key, job_id)
);
CREATE INDEX IF NOT EXISTS entries_lru ON entries (last_used);
CREATE INDEX IF NOT EXISTS pins_job ON pins (job_id);
"""
#: Free disk space kept beyond a download's size before it starts.
DISK_RESERVE = 64 * 1024 * 1024


def cache_key(endpoint: str, bucket: str, key: str, etag: str | None, size: int) -> str:
    """The content address of one object version (hex SHA-256)."""
    parts = [endpoint, bucket, key, etag or "", str(size)]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    size: int
    last_used: float
    source: str  # "endpoint bucket/key etag", for humans
    pinned_by: tuple[str, ...]


@dataclass(frozen=True)
class CacheUsage:
    total_bytes: int
    entries: int
    pinned_entries: int
    pinned_bytes: int
    max_bytes: int | None


class Cache:
    """The object cache in ``cache_dir`` (created if needed); ``max_bytes=None`` is unbounded."""

    def __init__(self, cache_dir: str | os.PathLike, max_bytes: int | None = None) -> None:
        self.path = Path(cache_dir).absolute()
        self.max_bytes = max_bytes
        for sub in ("locks", "objects", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._db_path = self.path / "index.sqlite"
        with self._db() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
        self.cleanup()

    # -- public ------------------------------------------------------------------------------

    def acquire(
        self,
        key: str,
        *,
        job_id: str,
        name: str,
        size: int,
        fill: Callable[[Path], None],
        source: str = "",
    ) -> tuple[Path, bool]:
        """The cached file for ``key``, filled by ``fill(temp_path)`` on a miss; pinned for ``job_id``.

        ``fill`` must write the complete, verified content to ``temp_path`` or raise. Returns
        ``(path, hit)``; ``hit`` is False when this call ran ``fill``. Blocks while another
        thread or process fills the same entry, then returns its result.
        """
        final = self.path / "objects" / key[:2] / key / name
        relpath = str(final.relative_to(self.path))
        with self._locked(key) as locked:
            assert locked
            self._sweep_tmp(key)
            with self._db() as con:
                row = con.execute("SELECT relpath, size FROM entries WHERE key=?", (key,)).fetchone()
            if row is not None and self._valid(row[0], row[1]):
                with self._tx() as con:
                    con.execute("UPDATE entries SET last_used=? WHERE key=?", (time.time(), key))
                    con.execute("INSERT OR IGNORE INTO pins VALUES (?,?,?)", (key, job_id, time.time()))
                return self.path / row[0], True
            self._drop_entry_files(key, row)
            self._make_room(size, keep=key)
            tmp = self.path / "tmp" / f"{key}.{uuid.uuid4().hex[:12]}.part"
            inserted = False
            try:
                fill(tmp)
                got = tmp.stat().st_size
                if got != size:
                    raise StorageError(f"{source}: downloaded {got} bytes, expected {size}")
                os.chmod(tmp, 0o444)
                final.parent.mkdir(parents=True, exist_ok=True)
                now = time.time()
                with self._tx() as con:
                    con.execute("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?)",
                                (key, relpath, size, now, now, source))
                    con.execute("INSERT OR IGNORE INTO pins VALUES (?,?,?)", (key, job_id, now))
                inserted = True
                os.rename(tmp, final)
                fileio.fsync_dir(final.parent)
            except BaseException:
                _unlink(tmp)
                self._sweep_tmp(key)
                if inserted:
                    with self._tx() as con:
                        con.execute("DELETE FROM entries WHERE key=?", (key,))
                        con.execute("DELETE FROM pins WHERE key=?", (key,))
                    _unlink(final)
                raise
        self.enforce_bound()
        return final, False

    def lookup(self, key: str) -> Path | None:
        """The complete cached file for ``key``, or None (does not pin; for inspection)."""
        with self._db() as con:
            row = con.execute("SELECT relpath, size FROM entries WHERE key=?", (key,)).fetchone()
        if row is not None and self._valid(row[0], row[1]):
            return self.path / row[0]
        return None

    def pin(self, key: str, job_id: str) -> None:
        with self._tx() as con:
            if con.execute("SELECT 1 FROM entries WHERE key=?", (key,)).fetchone() is None:
                raise KeyError(key)
            con.execute("INSERT OR IGNORE INTO pins VALUES (?,?,?)", (key, job_id, time.time()))

    def release(self, job_id: str) -> int:
        """Unpin every entry ``job_id`` holds (call once the job is final); returns how many."""
        with self._tx() as con:
            n = con.execute("DELETE FROM pins WHERE job_id=?", (job_id,)).rowcount
        self.enforce_bound()
        return n

    def pinned_jobs(self) -> list[str]:
        with self._db() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT job_id FROM pins ORDER BY job_id")]

    def entries(self) -> list[CacheEntry]:
        """Every entry, least recently used first."""
        with self._db() as con:
            rows = con.execute(
                "SELECT key, relpath, size, last_used, source FROM entries ORDER BY last_used, key"
            ).fetchall()
            pins: dict[str, list[str]] = {}
            for key, job in con.execute("SELECT key, job_id FROM pins ORDER BY job_id"):
                pins.setdefault(key, []).append(job)
        return [CacheEntry(k, self.path / rel, size, used, src, tuple(pins.get(k, ())))
                for k, rel, size, used, src in rows]

    def usage(self) -> CacheUsage:
        with self._db() as con:
            total, count = con.execute("SELECT COALESCE(SUM(size),0), COUNT(*) FROM entries").fetchone()
            pcount, pbytes = con.execute(
                "SELECT COUNT(*), COALESCE(SUM(size),0) FROM entries "
                "WHERE key IN (SELECT key FROM pins)"
            ).fetchone()
        return CacheUsage(total, count, pcount, pbytes, self.max_bytes)

    def enforce_bound(self) -> list[str]:
        """Evict unpinned entries, least recently used first, until within ``max_bytes``."""
        if self.max_bytes is None:
            return []
        return self.evict(self.max_bytes)

    def evict(self, target_bytes: int = 0, *, keep: str | None = None) -> list[str]:
        """Evict unpinned, unlocked entries (LRU first) until the total is <= ``target_bytes``."""
        evicted: list[str] = []
        with self._db() as con:
            total = con.execute("SELECT COALESCE(SUM(size),0) FROM entries").fetchone()[0]
            candidates = con.execute(
                "SELECT key, size FROM entries WHERE key NOT IN (SELECT key FROM pins) "
                "ORDER BY last_used, key"
            ).fetchall()
        for key, size in candidates:
            if total <= target_bytes:
                break
            if key == keep:
                continue
            if self._evict_one(key):
                evicted.append(key)
                total -= size
        return evicted

    def cleanup(self) -> int:
        """Remove temp files of dead downloads and files no index row accounts for."""
        removed = 0
        for tmp in (self.path / "tmp").iterdir():
            key = tmp.name.split(".", 1)[0]
            with self._locked(key, blocking=False) as locked:
                if locked:
                    removed += _unlink(tmp)
        with self._db() as con:
            known = {r[0] for r in con.execute("SELECT key FROM entries")}
        for shard in (self.path / "objects").iterdir():
            for entry in shard.iterdir() if shard.is_dir() else ():
                if entry.name in known:
                    continue
                with self._locked(entry.name, blocking=False) as locked:
                    if locked and not self._has_row(entry.name):
                        shutil.rmtree(entry, ignore_errors=True)
                        removed += 1
        return removed

    # -- internals ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self._db_path, timeout=120, isolation_level=None)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @contextlib.contextmanager
    def _locked(self, key: str, *, blocking: bool = True) -> Iterator[bool]:
        """Hold the entry's flock; yields False when ``blocking=False`` and someone else holds it.

        The lock file is deleted when an entry is evicted, so after locking we check that the
        path still names the file we locked (else we locked a dead inode) and retry.
        """
        path = self.path / "locks" / f"{key}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    yield False
                    return
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            yield True
        finally:
            os.close(fd)  # releases the flock

    def _valid(self, relpath: str, size: int) -> bool:
        try:
            return (self.path / relpath).stat().st_size == size
        except OSError:
            return False

    def _has_row(self, key: str) -> bool:
        with self._db() as con:
            return con.execute("SELECT 1 FROM entries WHERE key=?", (key,)).fetchone() is not None

    def _drop_entry_files(self, key: str, row) -> None:
        """Under the entry lock: forget a row whose file is gone or wrong, and stray files."""
        if row is not None:
            with self._tx() as con:
                con.execute("DELETE FROM entries WHERE key=?", (key,))
        shutil.rmtree(self.path / "objects" / key[:2] / key, ignore_errors=True)

    def _sweep_tmp(self, key: str) -> None:
        """Under the entry lock: temp files of this entry belong to dead downloads."""
        for tmp in (self.path / "tmp").glob(f"{key}.*"):
            _unlink(tmp)

    def _evict_one(self, key: str) -> bool:
        with self._locked(key, blocking=False) as locked:
            if not locked:
                return False
            with self._tx() as con:
                if con.execute("SELECT 1 FROM pins WHERE key=?", (key,)).fetchone():
                    return False
                con.execute("DELETE FROM entries WHERE key=?", (key,))
            shutil.rmtree(self.path / "objects" / key[:2] / key, ignore_errors=True)
            _unlink(self.path / "locks" / f"{key}.lock")
            return True

    def _make_room(self, size: int, *, keep: str) -> None:
        """Under ``keep``'s lock: evict LRU entries for the bound and for free disk space."""
        if self.max_bytes is not None:
            self.evict(max(0, self.max_bytes - size), keep=keep)
        need = size + DISK_RESERVE
        free = shutil.disk_usage(self.path).free
        if free >= need:
            return
        with self._db() as con:
            total = con.execute("SELECT COALESCE(SUM(size),0) FROM entries").fetchone()[0]
        self.evict(max(0, total - (need - free)), keep=keep)
        free = shutil.disk_usage(self.path).free
        if free < need:
            raise StorageError(
                f"not enough disk space in the cache {self.path}: {size} bytes needed, "
                f"{free} free after evicting every unused entry"
            )


def _unlink(path: Path) -> int:
    try:
        os.chmod(path, 0o644)
    except OSError:
        pass
    try:
        os.unlink(path)
        return 1
    except FileNotFoundError:
        return 0
    except IsADirectoryError:
        shutil.rmtree(path, ignore_errors=True)
        return 1


