"""Resolving a job's inputs to local files: objects through the cache, local paths as they are."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from localgene import fileio
from localgene.errors import LocalgeneError, StorageError

from . import _faults
from .cache import Cache, cache_key
from .check import InputReport, ObjectStat, check_inputs, flatten_fields
from .client import S3Config, endpoint_of, make_client, make_transfer_manager

#: Where staged objects appear inside a job folder (the workflow's own ``inputs/reference.fa``
#: and ``inputs/bam/`` links live beside it and must not collide with user file names).
STAGED_DIR = Path("inputs") / "staged"

ProgressCallback = Callable[[int, int], None]


def stage_inputs(
    fields: Mapping[str, str | list[str] | None],
    config: S3Config | None,
    cache: Cache,
    job_dir: str | os.PathLike,
    on_progress: ProgressCallback | None = None,
    *,
    job_id: str | None = None,
    client=None,
) -> dict[str, str | list[str]]:
    """Local paths for every input of a job, same shape as ``fields``.

    Objects (``s3a://``, ``s3://``) are fetched into ``cache`` (once for every job) and linked as
    ``job_dir/inputs/staged/<basename>`` (symlinks into the cache; basenames kept exactly, since
    CNVkit derives sample names from them), together with the index files found beside them
    (``.bai``, ``.fai``, ...). Local and ``file://`` paths are returned as absolute paths, not
    copied. Every cache entry used is pinned for ``job_id`` (default: the absolute ``job_dir``);
    call ``cache.release(job_id)`` once the job is final. On failure the pins of this job are
    released, nothing half-downloaded remains in the cache, and the error is raised:
    :class:`InputNotFound` / :class:`InputPermissionDenied` / :class:`InvalidRequest` as at
    submit time, :class:`StorageError` for transfer and cache failures.

    ``on_progress(done_bytes, total_bytes)`` is called from worker threads (serialised, at most
    about every 1 % or 0.5 s, and once at the end); an exception it raises cancels the staging.
    """
    config = config or S3Config.from_env()
    job_dir = Path(job_dir).absolute()
    job_id = job_id or str(job_dir)
    items = flatten_fields(fields)
    if client is None and any(_is_s3(p) for _, p in items):
        client = make_client(config)
    report = check_inputs(fields, config, client=client)
    objects = _objects_to_fetch(report)
    progress = _Progress(sum(st.size for st in objects.values()), on_progress)
    linked: dict[str, Path] = {}
    if objects:
        endpoint = endpoint_of(client)
        link_dir = job_dir / STAGED_DIR
        link_dir.mkdir(parents=True, exist_ok=True)
        fetcher = _Fetcher(client, config, cache, endpoint, job_id, progress)
        try:
            with ThreadPoolExecutor(max_workers=max(1, config.file_workers)) as pool:
                futures = {name: pool.submit(fetcher.fetch, st) for name, st in objects.items()}
                errors = [exc for f in futures.values() if (exc := f.exception()) is not None]
            if errors:
                raise _first(errors)
            for name, fut in futures.items():
                linked[name] = _link(fut.result(), link_dir / name)
        except BaseException:
            cache.release(job_id)
            raise
        finally:
            fetcher.close()
    progress.finish()
    return _shape(fields, report, linked)


def _is_s3(path: object) -> bool:
    return isinstance(path, str) and path[:5].lower() in ("s3://", "s3a:/")


def _objects_to_fetch(report: InputReport) -> dict[str, ObjectStat]:
    out: dict[str, ObjectStat] = {}
    for info in report.inputs:
        for st in (info.stat, *info.companions):
            if st.location.is_s3:
                out.setdefault(st.location.basename, st)
    return out


def _shape(fields, report: InputReport, linked: dict[str, Path]) -> dict[str, str | list[str]]:
    local: dict[str, str] = {}
    for info in report.inputs:
        loc = info.location
        local[info.field] = str(linked[loc.basename]) if loc.is_s3 else loc.local_path
    out: dict[str, str | list[str]] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            out[name] = [local[f"{name}[{i}]"] for i in range(len(value))]
        else:
            out[name] = local[name]
    return out


def _link(target: Path, link: Path) -> Path:
    """``link`` -> ``target`` (absolute symlink), replaced atomically if it exists."""
    try:
        if os.readlink(link) == str(target):
            return link
    except OSError:
        pass
    return fileio.atomic_symlink(target, link)


def _first(errors: list[BaseException]) -> BaseException:
    """Prefer the user's problem (4xx-style) over the transfer failures it may have caused."""
    for exc in errors:
        if isinstance(exc, LocalgeneError) and exc.http_status < 500:
            return exc
    return errors[0]


class _Progress:
    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback
        self._lock = threading.Lock()
        self._last_time = 0.0
        self._last_done = -1

    def add(self, n: int) -> None:
        if not n:
            return
        with self._lock:
            self.done = min(self.total, max(0, self.done + n))
            if self.callback is None:
                return
            now = time.monotonic()
            step = max(1, self.total // 100)
            if self.done - self._last_done >= step or now - self._last_time >= 0.5:
                self._last_time, self._last_done = now, self.done
                self.callback(self.done, self.total)

    def finish(self) -> None:
        with self._lock:
            self.done = self.total
            if self.callback is not None and self._last_done != self.total:
                self._last_done = self.total
                self.callback(self.total, self.total)


class _Fetcher:
    """Downloads through one transfer manager shared by the staging threads of a job."""

    def __init__(self, client, config: S3Config, cache: Cache, endpoint: str, job_id: str,
                 progress: _Progress) -> None:
        self.client = client
        self.config = config
        self.cache = cache
        self.endpoint = endpoint
        self.job_id = job_id
        self.progress = progress
        self.manager = make_transfer_manager(client, config)

        # s3transfer sends If-Match only on ranged GETs; add it to single GETs of our objects too,
        # so an object rewritten after its HEAD fails the download instead of mixing versions.
        self._etags: dict[tuple[str, str], str] = {}
        self._hook_id = f"localgene-if-match-{id(self)}"
        client.meta.events.register("before-parameter-build.s3.GetObject", self._add_if_match,
                                    unique_id=self._hook_id)

    def _add_if_match(self, params, **kwargs) -> None:
        etag = self._etags.get((params.get("Bucket"), params.get("Key")))
        if etag and "IfMatch" not in params:
            params["IfMatch"] = etag

    def close(self) -> None:
        self.manager.shutdown()
        self.client.meta.events.unregister("before-parameter-build.s3.GetObject",
                                           unique_id=self._hook_id)

    def fetch(self, st: ObjectStat) -> Path:
        loc = st.location
        bucket, object_key = loc.s3_object  # only S3 objects are fetched
        key = cache_key(self.endpoint, bucket, object_key, st.etag, st.size)
        counted = [0]

        def add(n: int) -> None:
            counted[0] += n
            self.progress.add(n)

        def fill(tmp: Path) -> None:
            self._download(st, tmp, add)

        path, _hit = self.cache.acquire(
            key, job_id=self.job_id, name=loc.basename, size=st.size, fill=fill,
            source=f"{self.endpoint} {loc.bucket}/{loc.key} {st.etag or ''}",
        )
        self.progress.add(st.size - counted[0])
        return path

    def _download(self, st: ObjectStat, tmp: Path, add: Callable[[int], None]) -> None:
        from s3transfer.subscribers import BaseSubscriber

        class Subscriber(BaseSubscriber):
            def __init__(self, sink: Callable[[int], None]) -> None:
                self.sink = sink

            def on_queued(self, future, **kwargs):
                future.meta.provide_transfer_size(st.size)
                if st.etag:  # ranged GETs carry If-Match: a rewrite mid-download fails, not mixes
                    future.meta.provide_object_etag(f'"{st.etag}"')

            def on_progress(self, future, bytes_transferred, **kwargs):
                self.sink(bytes_transferred)

        loc = st.location
        if st.etag:
            self._etags[loc.s3_object] = f'"{st.etag}"'
        attempts = max(1, self.config.staging_attempts)
        delay = self.config.staging_backoff
        for attempt in range(1, attempts + 1):
            got = [0]

            def counted(n: int, got: list[int] = got) -> None:
                got[0] += n
                add(n)

            try:
                with open(tmp, "wb") as fh:
                    future = self.manager.download(loc.bucket, loc.key, fh, subscribers=[Subscriber(counted)])
                    future.result()
                    fh.flush()
                    os.fsync(fh.fileno())
                break
            except LocalgeneError:
                raise
            except Exception as exc:  # noqa: BLE001
                if not _is_transfer_error(exc):
                    raise
                if _faults.is_transient(exc) and attempt < attempts:
                    add(-got[0])  # this attempt's bytes do not count; the next starts over
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise StorageError(
                    f"download of {loc.original} failed: {self._why(exc)}"
                    + (f" (after {attempt} attempts)" if attempt > 1 else "")
                ) from None
        if st.last_modified is not None:  # index files must look no older than their data
            os.utime(tmp, (time.time(), st.last_modified))
        self._verify(st, tmp)

    def _why(self, exc: BaseException) -> str:
        inner = _faults.unwrap(exc)
        if _faults.error_code(inner) in ("PreconditionFailed", "412"):
            return "the object changed while it was being downloaded; submit the job again"
        return _faults.describe(inner, self.endpoint)

    # -- verification ------------------------------------------------------------------------

    def _verify(self, st: ObjectStat, tmp: Path) -> None:
        got = tmp.stat().st_size
        if got != st.size:
            raise StorageError(
                f"download of {st.location.original} has {got} bytes where the endpoint said "
                f"{st.size} (the transfer was cut short or the object changed)"
            )
        kind, expected, actual = self._digest(st, tmp)
        if kind and expected != actual:
            raise StorageError(
                f"download of {st.location.original} is corrupt: its {kind} is {actual}, the "
                f"endpoint says {expected}"
            )

    def _digest(self, st: ObjectStat, tmp: Path) -> tuple[str | None, str | None, str | None]:
        etag = st.etag or ""
        multipart = "-" in etag
        if st.checksum and st.checksum[0] in ("CRC32", "SHA1", "SHA256") and (
            st.checksum_type == "FULL_OBJECT" or (not multipart and "-" not in st.checksum[1])
        ):
            algo, value = st.checksum
            return algo, value, _checksum_b64(tmp, algo)
        if st.encrypted or not etag:
            return None, None, None
        if not multipart and len(etag) == 32 and _is_hex(etag):
            return "MD5 (ETag)", etag.lower(), _md5_parts(tmp, None)
        if multipart:
            head, _, count = etag.rpartition("-")
            part_size = self._part_size(st, count)
            if part_size and _is_hex(head):
                return "multipart ETag", etag.lower(), _md5_parts(tmp, part_size)
        return None, None, None  # nothing to compare beyond the size

    def _part_size(self, st: ObjectStat, count: str) -> int | None:
        """Part size of a multipart upload (HEAD ?partNumber=1), if parts look uniform."""
        try:
            parts = int(count)
            resp = self.client.head_object(Bucket=st.location.bucket, Key=st.location.key,
                                           PartNumber=1)
        except Exception:  # noqa: BLE001 - endpoint without part HEADs: size check only
            return None
        size = int(resp.get("ContentLength") or 0)
        if size <= 0 or parts < 1 or -(-st.size // size) != parts:
            return None  # parts of unequal size: cannot recompute the ETag
        return size


def _is_transfer_error(exc: BaseException) -> bool:
    import botocore.exceptions as bx
    import s3transfer.exceptions as sx

    inner = _faults.unwrap(exc)
    return isinstance(exc, (bx.BotoCoreError, bx.ClientError, sx.S3UploadFailedError,
                            sx.RetriesExceededError, ConnectionError, TimeoutError)) or isinstance(
        inner, (bx.BotoCoreError, bx.ClientError))


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
        return True
    except ValueError:
        return False


_BLOCK = 8 * 1024 * 1024


def _checksum_b64(path: Path, algo: str) -> str:
    with open(path, "rb") as fh:
        if algo == "CRC32":
            crc = 0
            while block := fh.read(_BLOCK):
                crc = zlib.crc32(block, crc)
            raw = crc.to_bytes(4, "big")
        else:
            h = hashlib.new(algo.lower())
            while block := fh.read(_BLOCK):
                h.update(block)
            raw = h.digest()
    return base64.b64encode(raw).decode()


def _md5_parts(path: Path, part_size: int | None) -> str:
    """MD5 hex of the file, or the S3 multipart ETag for ``part_size`` parts."""
    with open(path, "rb") as fh:
        if part_size is None:
            h = hashlib.md5(usedforsecurity=False)
            while block := fh.read(_BLOCK):
                h.update(block)
            return h.hexdigest()
        digests = []
        while True:
            h = hashlib.md5(usedforsecurity=False)
            remaining, seen = part_size, 0
            while remaining and (block := fh.read(min(_BLOCK, remaining))):
                h.update(block)
                remaining -= len(block)
                seen += len(block)
            if not seen:
                break
            digests.append(h.digest())
        return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"
