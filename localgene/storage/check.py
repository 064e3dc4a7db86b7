"""Submit-time checks: every input exists and is readable (a HEAD or a stat, never a download)."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import botocore.exceptions as bx

from localgene.errors import InputNotFound, InputPermissionDenied, InvalidRequest, StorageError
from localgene.jobs.bodies import CNVKIT_INPUT_FIELDS  # re-exported by localgene.storage

from . import _faults
from .client import S3Config, endpoint_of, make_client
from .paths import Location, parse_location

_CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
_FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz")


@dataclass(frozen=True)
class ObjectStat:
    """What a HEAD (or a stat) says about one existing file."""

    location: Location
    size: int
    etag: str | None = None  # as the endpoint sends it, quotes stripped; None for local files
    last_modified: float | None = None  # epoch seconds
    checksum: tuple[str, str] | None = None  # (algorithm, base64 value) when the endpoint gives one
    checksum_type: str | None = None  # FULL_OBJECT / COMPOSITE when the endpoint says
    encrypted: bool = False  # SSE-KMS / SSE-C: the ETag is not an MD5 of the content

    @property
    def path(self) -> str:
        return self.location.uri


@dataclass(frozen=True)
class InputInfo:
    """One input of a job: its field (``control_inputs[1]``), path, size, ETag, companions."""

    field: str
    path: str  # as the job named it
    size: int
    etag: str | None
    companions: tuple[ObjectStat, ...] = ()  # index files found beside it (.bai, .fai, ...)
    stat: ObjectStat = dc_field(repr=False, compare=False, kw_only=True)

    @property
    def location(self) -> Location:
        return self.stat.location


@dataclass(frozen=True)
class InputReport:
    """The result of :func:`check_inputs`."""

    inputs: tuple[InputInfo, ...]

    @property
    def input_size(self) -> int:
        """Summed size in bytes of the inputs the job names (index files not counted)."""
        return sum(i.size for i in self.inputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "inputs": [
                {
                    "field": i.field,
                    "path": i.path,
                    "size": i.size,
                    "etag": i.etag,
                    "companions": [{"path": c.path, "size": c.size, "etag": c.etag}
                                   for c in i.companions],
                }
                for i in self.inputs
            ],
        }


def cnvkit_input_fields(request: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """The input-file fields of a CNVkit job body, ready for :func:`check_inputs`.

    ``annotation_file`` is included only when ``has_annotate`` is true: the service's own example
    body names one with ``has_annotate: false``, and a file the job will not read must not make
    the submission fail.
    """
    out: dict[str, str | list[str]] = {}
    for name in CNVKIT_INPUT_FIELDS:
        value = request.get(name)
        if value is None:
            continue
        if name == "annotation_file" and request.get("has_annotate") is not True:
            continue
        out[name] = value
    return out


def flatten_fields(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[(field label, path)]`` with list items labelled ``name[i]``; ``None`` values skipped."""
    out: list[tuple[str, str]] = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            if not value:
                continue
            for i, item in enumerate(value):
                out.append((f"{name}[{i}]", item))
        else:
            out.append((name, value))
    return out


def companion_names(location: Location, field: str) -> list[str]:
    """Basenames of the index files that may sit beside an input, in lookup order."""
    name = location.basename
    low = name.lower()
    out: list[str] = []
    if low.endswith(".bam"):
        out += [name + ".bai", name[:-4] + ".bai"]
    elif low.endswith(".cram"):
        out += [name + ".crai", name[:-5] + ".crai"]
    if field.split("[")[0] == "ref" or low.endswith(_FASTA_SUFFIXES):
        out.append(name + ".fai")
        if low.endswith(".gz"):
            out.append(name + ".gzi")
    if low.endswith(".vcf.gz"):
        out += [name + ".tbi", name + ".csi"]
    return out


def check_inputs(
    fields: Mapping[str, str | list[str] | None],
    config: S3Config | None = None,
    *,
    client=None,
) -> InputReport:
    """HEAD every object / stat every local file a job names; raise a 4xx-style error if any fails.

    ``fields`` maps field names to one path or a list of paths (``None`` values are skipped); use
    :func:`cnvkit_input_fields` to pick them out of a CNVkit job body. Errors name the field:
    :class:`InputNotFound` (missing file, object or bucket), :class:`InputPermissionDenied`
    (403, bad or missing credentials), :class:`InvalidRequest` (malformed path, a folder, two
    objects with the same file name), :class:`StorageError` (endpoint unreachable, TLS).
    """
    named = flatten_fields(fields)
    locations = [(label, path, parse_location(path, label)) for label, path in named]
    s3_needed = any(loc.is_s3 for _, _, loc in locations)
    if s3_needed and client is None:
        client = make_client(config or S3Config.from_env())
    inspector = _Inspector(client)
    workers = (config or S3Config()).file_workers * 2
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(inspector.inspect, label, loc) for label, _, loc in locations]
        errors = [f.exception() for f in futures]
    for error in errors:  # the first failing field, in the order the job names them
        if error is not None:
            raise error
    results = [f.result() for f in futures]
    infos = tuple(
        InputInfo(field=label, path=path, size=st.size, etag=st.etag, companions=comps, stat=st)
        for (label, path, _), (st, comps) in zip(locations, results)
    )
    report = InputReport(infos)
    staged_names(report)  # refuse basename clashes at submit time, not at launch
    return report


def read_start(info: InputInfo, nbytes: int, config: S3Config | None = None, *,
               client=None) -> tuple[bytes, bool]:
    """The first ``nbytes`` of an input checked by :func:`check_inputs` (one ranged GET for an
    object, never the whole of a larger one; a read for a local file) and whether they are the
    whole file. Errors name the input's field as :func:`check_inputs` does."""
    loc = info.location
    whole = info.size <= nbytes
    if not loc.is_s3:
        try:
            with open(loc.path or "", "rb") as fh:
                return fh.read(nbytes), whole
        except OSError as exc:
            raise InvalidRequest(f"cannot read {loc.original}: {exc.strerror}", field=info.field) from None
    if info.size == 0:
        return b"", True  # a range of an empty object is a 416
    if client is None:
        client = make_client(config or S3Config.from_env())
    inspector = _Inspector(client)
    try:
        resp = client.get_object(Bucket=loc.bucket, Key=loc.key, Range=f"bytes=0-{nbytes - 1}")
        data = resp["Body"].read(nbytes)
        resp["Body"].close()
    except Exception as exc:  # noqa: BLE001 - translated below
        raise inspector.translate(info.field, loc, exc) from None
    return data, whole and len(data) >= info.size


def staged_names(report: InputReport) -> dict[str, ObjectStat]:
    """Basename -> object for everything that staging links into the job; refuse clashes."""
    names: dict[str, tuple[str, ObjectStat]] = {}
    for info in report.inputs:
        for st, label in [(info.stat, info.field)] + [(c, info.field) for c in info.companions]:
            if not st.location.is_s3:
                continue
            name = st.location.basename
            seen = names.get(name)
            if seen and (seen[1].location.bucket, seen[1].location.key) != (
                st.location.bucket, st.location.key
            ):
                raise InvalidRequest(
                    f"{st.path} has the same file name as {seen[1].path} ({seen[0]}); CNVkit "
                    f"names samples and outputs after file names, so inputs must not share one",
                    field=label,
                )
            names.setdefault(name, (label, st))
    return {name: st for name, (_, st) in names.items()}


class _Inspector:
    def __init__(self, client) -> None:
        self.client = client
        self.endpoint = endpoint_of(client) if client is not None else None
        self._bucket_exists: dict[str, bool | None] = {}

    def inspect(self, label: str, loc: Location) -> tuple[ObjectStat, tuple[ObjectStat, ...]]:
        if not loc.is_s3:
            st = _stat_local(label, loc)
            comps = [_stat_local_quiet(loc.sibling(n)) for n in companion_names(loc, label)]
            return st, _pick(comps)
        st = self.head(label, loc)
        comps = [self.head_quiet(label, loc.sibling(n)) for n in companion_names(loc, label)]
        return st, _pick(comps)

    def head(self, label: str, loc: Location) -> ObjectStat:
        try:
            resp = self.client.head_object(Bucket=loc.bucket, Key=loc.key, ChecksumMode="ENABLED")
        except Exception as exc:  # noqa: BLE001 - translated below
            raise self.translate(label, loc, exc) from None
        return stat_from_head(loc, resp)

    def head_quiet(self, label: str, loc: Location) -> ObjectStat | None:
        """A companion: absent on 404 / 403; endpoint failures still raise."""
        try:
            return self.head(label, loc)
        except (InputNotFound, InputPermissionDenied):
            return None

    def translate(self, label: str, loc: Location, exc: BaseException) -> Exception:
        code, status = _faults.error_code(exc), _faults.http_status(exc)
        if isinstance(exc, bx.ClientError) and (code in _faults.NO_BUCKET_CODES or (
            code in _faults.NOT_FOUND_CODES or status == 404
        )):
            if code in _faults.NO_BUCKET_CODES or self.bucket_missing(loc.s3_object[0]):
                return InputNotFound(
                    f"bucket {loc.bucket!r} does not exist (at {self.endpoint}), so {loc.original} "
                    f"cannot be read",
                    field=label,
                )
            return InputNotFound(f"{loc.original} does not exist (no such object)", field=label)
        if _faults.is_auth(exc):
            hint = ""
            if status == 403 and not isinstance(exc, _faults.CREDENTIAL_ERRORS):
                hint = (" (S3 also answers 403 for a missing object when the credentials may not "
                        "list the bucket)")
            return InputPermissionDenied(
                f"cannot read {loc.original}: {_faults.describe(exc)}{hint}", field=label
            )
        return StorageError(
            f"cannot check {loc.original}: {_faults.describe(exc, self.endpoint)}", field=label
        )

    def bucket_missing(self, bucket: str) -> bool:
        if bucket not in self._bucket_exists:
            try:
                self.client.head_bucket(Bucket=bucket)
                self._bucket_exists[bucket] = True
            except bx.ClientError as exc:
                status = _faults.http_status(exc)
                code = _faults.error_code(exc)
                self._bucket_exists[bucket] = False if (
                    status == 404 or code in _faults.NO_BUCKET_CODES
                ) else None
            except Exception:  # noqa: BLE001 - the object's own 404 is what we report then
                self._bucket_exists[bucket] = None
        return self._bucket_exists[bucket] is False


def stat_from_head(loc: Location, resp: Mapping[str, Any]) -> ObjectStat:
    checksum = None
    for algo in _CHECKSUM_ALGORITHMS:
        value = resp.get("Checksum" + algo)
        if value:
            checksum = (algo, value)
            break
    lm = resp.get("LastModified")
    return ObjectStat(
        location=loc,
        size=int(resp.get("ContentLength", 0)),
        etag=(resp.get("ETag") or "").strip('"') or None,
        last_modified=lm.timestamp() if lm is not None else None,
        checksum=checksum,
        checksum_type=resp.get("ChecksumType"),
        encrypted=bool(resp.get("SSECustomerAlgorithm"))
        or resp.get("ServerSideEncryption") in ("aws:kms", "aws:kms:dsse"),
    )


def _stat_local(label: str, loc: Location) -> ObjectStat:
    path = loc.path or ""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise InputNotFound(f"{loc.original} does not exist (no such file)", field=label) from None
    except PermissionError:
        raise InputPermissionDenied(
            f"cannot read {loc.original}: permission denied on a folder of its path", field=label
        ) from None
    except OSError as exc:
        raise InvalidRequest(f"cannot read {loc.original}: {exc.strerror}", field=label) from None
    if stat_mod.S_ISDIR(st.st_mode):
        raise InvalidRequest(f"{loc.original} is a folder, not a file", field=label)
    if not os.access(path, os.R_OK):
        raise InputPermissionDenied(f"cannot read {loc.original}: permission denied", field=label)
    return ObjectStat(location=loc, size=st.st_size, last_modified=st.st_mtime)


def _stat_local_quiet(loc: Location) -> ObjectStat | None:
    try:
        return _stat_local("companion", loc)
    except InvalidRequest:
        return None


def _pick(companions: Iterable[ObjectStat | None]) -> tuple[ObjectStat, ...]:
    return tuple(c for c in companions if c is not None)


def check_output_dir(output_dir: object, config: S3Config | None = None, *, client=None) -> Location:
    """Check at submit time that results can go to ``output_dir``; returns its location.

    A local folder must be a folder (or not exist yet) whose nearest existing folder this
    process may write into. An object-store destination must name a bucket that exists (a HEAD
    on the bucket), with credentials configured. A 403 is accepted: HeadBucket needs list
    permission that a write-only role lacks. Nothing is written, so a missing *write* permission
    shows only at delivery, which fails the job and keeps its local results.
    """
    loc = parse_location(output_dir, "output_dir", require_key=False)
    if not loc.is_s3:
        _check_local_destination(loc)
        return loc
    if client is None:
        client = make_client(config or S3Config.from_env())
    endpoint = endpoint_of(client)
    try:
        client.head_bucket(Bucket=loc.bucket)
    except Exception as exc:  # noqa: BLE001 - translated below
        code, status = _faults.error_code(exc), _faults.http_status(exc)
        if isinstance(exc, bx.ClientError) and (code in _faults.NO_BUCKET_CODES or status == 404):
            raise InputNotFound(
                f"bucket {loc.bucket!r} does not exist (at {endpoint}), so results cannot be "
                f"delivered to {loc.original}",
                field="output_dir",
            ) from None
        if isinstance(_faults.unwrap(exc), _faults.CREDENTIAL_ERRORS):
            raise InputPermissionDenied(
                f"cannot deliver to {loc.original}: {_faults.describe(exc)}", field="output_dir"
            ) from None
        if _faults.is_auth(exc):
            # HeadBucket needs s3:ListBucket; a role that may only write results gets a 403
            # (with no body to tell it from a bad key). Delivery will say if it cannot write.
            return loc
        raise StorageError(
            f"cannot check {loc.original}: {_faults.describe(exc, endpoint)}", field="output_dir"
        ) from None
    return loc


def _check_local_destination(loc: Location) -> None:
    path = loc.path or ""
    if os.path.exists(path) and not os.path.isdir(path):
        raise InvalidRequest(f"{loc.original} is a file, not a folder", field="output_dir")
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        raise InvalidRequest(
            f"{loc.original} cannot be created: {existing} is a file, not a folder", field="output_dir"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" (its nearest existing folder {existing} is not writable)"
        raise InputPermissionDenied(
            f"cannot write results to {loc.original}: permission denied{where}", field="output_dir"
        )
