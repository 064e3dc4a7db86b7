"""Delivering a finished job's results to ``output_dir/<instance_id>/...`` (CNVkit) or to a
pipeline's ``output`` (a folder, or the main result's own path)."""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from localgene import fileio
from localgene.errors import DeliveryError, InvalidRequest, LocalgeneError

from . import _faults
from .client import S3Config, endpoint_of, make_client, make_transfer_manager
from .paths import Location, parse_location

_INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def result_files(results_dir: str | os.PathLike) -> list[Path]:
    """Every regular file below ``results_dir`` (symlinks to files followed), sorted."""
    root = Path(results_dir)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            out.append(Path(dirpath, name))
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def deliver_results(
    results_dir: str | os.PathLike,
    output_dir: str,
    instance_id: str,
    config: S3Config | None = None,
    *,
    client=None,
) -> list[str]:
    """Upload (S3) or copy (local) every file under ``results_dir`` to ``output_dir/<instance_id>/``.

    Returns the destination of every file (``s3a://bucket/prefix/<instance_id>/<relative path>``
    in the scheme ``output_dir`` used, or absolute local paths), in the order of the relative
    paths. Uploads are multipart for large files, retried on transient errors (botocore's
    standard retries per request, plus ``config.delivery_attempts`` whole-file attempts with
    exponential backoff) and verified by a HEAD (size). Local copies go to a temporary name and
    are renamed when complete. Any failure raises :class:`DeliveryError` naming the destination
    and the cause. ``results_dir`` is only read, never changed.
    """
    config = config or S3Config.from_env()
    dest = parse_location(output_dir, "output_dir", require_key=False)
    if not isinstance(instance_id, str) or not _INSTANCE_ID.match(instance_id):
        raise InvalidRequest(f"{instance_id!r} cannot name a result folder", field="instance_id")
    root = Path(results_dir)
    if not root.is_dir():
        raise DeliveryError(f"cannot deliver results: {root} is not a folder")
    files = result_files(root)
    base = dest.child(instance_id)
    plan = [(f, base.child(f.relative_to(root).as_posix())) for f in files]
    if dest.is_s3:
        if client is None:
            client = make_client(config)
        uploader = _Uploader(client, config)
        try:
            _run_all(uploader.upload, plan, config.file_workers)
        finally:
            uploader.close()
    else:
        _run_all(_copy, plan, config.file_workers)
    return [d.uri if d.is_s3 else d.local_path for _, d in plan]


def deliver_files(
    pairs: list[tuple[str | os.PathLike, str]],
    config: S3Config | None = None,
    *,
    client=None,
) -> list[str]:
    """Upload (S3) or copy (local) each ``(local file, destination path)``; return destinations.

    For results that go to named files (a pipeline's ``output`` VCF, ``bam_output``) rather
    than into ``output_dir/<instance_id>/``. Each destination is a full file path (local,
    ``s3a://`` or ``s3://``), delivered like :func:`deliver_results` delivers a file.
    """
    config = config or S3Config.from_env()
    plan = [(Path(src), parse_location(dst, "output")) for src, dst in pairs]
    for src, _ in plan:
        if not src.is_file():
            raise DeliveryError(f"cannot deliver results: {src} is not a file")
    s3 = [(src, dst) for src, dst in plan if dst.is_s3]
    local = [(src, dst) for src, dst in plan if not dst.is_s3]
    _run_all(_copy, local, config.file_workers)
    if s3:
        if client is None:
            client = make_client(config)
        uploader = _Uploader(client, config)
        try:
            _run_all(uploader.upload, s3, config.file_workers)
        finally:
            uploader.close()
    return [d.uri if d.is_s3 else d.local_path for _, d in plan]


def deliver_file(src: str | os.PathLike, destination: str, config: S3Config | None = None, *,
                 client=None) -> str:
    """Upload (S3) or copy (local) one file to exactly ``destination`` (a file path or key):
    :func:`deliver_files` for one file; returns the destination."""
    parse_location(destination, "output", require_key=True)
    return deliver_files([(src, destination)], config, client=client)[0]


def output_names_file(output: str, main: str | os.PathLike | None) -> bool:
    """Does a pipeline's ``output`` name a file (the main result itself) rather than a folder?
    Yes when it does not end with ``/`` and ends with the main result's extension (``.csv``,
    ``.vcf``, ``.vcf.gz``, ``.bam``...)."""
    if main is None or output.endswith("/"):
        return False
    suffixes = Path(str(main).lower()).suffixes
    suffix = "".join(suffixes[-2:]) if suffixes[-1:] == [".gz"] else "".join(suffixes[-1:])
    return bool(suffix) and output.rsplit("/", 1)[-1].lower().endswith(suffix)


def deliver_output(
    results_dir: str | os.PathLike,
    output: str,
    instance_id: str,
    *,
    main: str | os.PathLike | None = None,
    config: S3Config | None = None,
    client=None,
) -> dict:
    """Deliver a pipeline job's results to its ``output`` field (docs/pipelines.md).

    ``output`` a folder: every file under ``results_dir`` goes to ``output/<instance_id>/...``
    (as CNVkit results do). ``output`` a file (see :func:`output_names_file`): ``main`` (the
    job's main result, a file under ``results_dir``) is written exactly to ``output``, and every
    result to ``<folder of output>/<instance_id>/...`` beside it. Returns ``{"destination",
    "main", "files"}`` (where things went), ready for ``logs/delivered.json``.
    """
    config = config or S3Config.from_env()
    if not output_names_file(output, main):
        folder = output
        main_dest = None
    else:
        folder = output.rsplit("/", 1)[0] + "/" if "/" in output else "./"
        main_dest = parse_location(output, "output")
        if main_dest.is_s3 and client is None:
            client = make_client(config)
    files = deliver_results(results_dir, folder, instance_id, config, client=client)
    dest = parse_location(folder, "output", require_key=False).child(instance_id)
    if main_dest is not None and main is not None:  # (main_dest is set only when main is given)
        src = Path(main)
        if not src.is_file():
            raise DeliveryError(f"cannot deliver the main result: {src} does not exist")
        deliver_file(src, output, config, client=client)
    return {"destination": dest.uri if dest.is_s3 else dest.local_path,
            "main": None if main_dest is None else (main_dest.uri if main_dest.is_s3 else main_dest.local_path),
            "files": files}


def _run_all(func, plan, workers: int) -> None:
    if not plan:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(func, src, dst) for src, dst in plan]
        errors = [exc for f in futures if (exc := f.exception()) is not None]
    if errors:
        raise errors[0]


def _copy(src: Path, dst: Location) -> None:
    target = Path(dst.local_path)
    try:
        fileio.atomic_copy(src, target, copystat=True, check_size=True)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise DeliveryError(f"cannot copy {src} to {target}: {why}") from None


class _Uploader:
    def __init__(self, client, config: S3Config) -> None:
        self.client = client
        self.config = config
        self.endpoint = endpoint_of(client)
        self.manager = make_transfer_manager(client, config)

    def close(self) -> None:
        self.manager.shutdown()

    def upload(self, src: Path, dst: Location) -> None:
        attempts = max(1, self.config.delivery_attempts)
        delay = self.config.delivery_backoff
        for attempt in range(1, attempts + 1):
            try:
                size = src.stat().st_size
                self.manager.upload(str(src), dst.bucket, dst.key).result()
                head = self.client.head_object(Bucket=dst.bucket, Key=dst.key)
                if int(head["ContentLength"]) != size:
                    raise _SizeMismatch(int(head["ContentLength"]), size)
                return
            except LocalgeneError:
                raise
            except Exception as exc:  # noqa: BLE001
                transient = isinstance(exc, _SizeMismatch) or _faults.is_transient(exc)
                if transient and attempt < attempts:
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise DeliveryError(
                    f"cannot deliver {src.name} to {dst.uri}: {self._why(exc, dst)}"
                    + (f" (after {attempt} attempts)" if attempt > 1 else "")
                ) from None

    def _why(self, exc: BaseException, dst: Location) -> str:
        if isinstance(exc, _SizeMismatch):
            return str(exc)
        if isinstance(exc, FileNotFoundError):
            return f"the local result file is missing ({exc.filename})"
        inner = _faults.unwrap(exc)
        code = _faults.error_code(inner)
        if code == "NoSuchBucket":
            return f"bucket {dst.bucket!r} does not exist at {self.endpoint}"
        return _faults.describe(inner, self.endpoint)


class _SizeMismatch(Exception):
    def __init__(self, remote: int, local: int) -> None:
        super().__init__(f"the uploaded object has {remote} bytes, the local file {local}")
