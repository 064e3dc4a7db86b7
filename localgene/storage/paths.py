"""Parsing the path forms a job may name into one :class:`Location` type.

Accepted forms:

* ``s3a://bucket/key`` (Hadoop's spelling, what the gene service uses) and ``s3://bucket/key``;
* ``file:///absolute/path`` (percent-encoded as RFC 8089 says; ``file://localhost/...`` too);
* plain absolute or relative local paths (relative ones are made absolute against ``base_dir``,
  default the current directory).

Anything else (``http://``, ``hdfs://``, ``s3n://``, an empty bucket, ``s3a://bucket`` with no
key where an object is needed, control characters) is an :class:`InvalidRequest` naming the field.
Keys are taken verbatim: ``?`` and ``#`` are legal characters in S3 keys, not a query string.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote

from localgene.errors import InvalidRequest

S3_SCHEMES = ("s3a", "s3")
SUPPORTED = "s3a://bucket/key, s3://bucket/key, file:///absolute/path or a local path"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Relaxed S3 bucket names: AWS's rules (3-63 chars, lowercase, digits, '.', '-') plus the upper
# case and '_' that legacy AWS buckets, Ceph and OBS may allow. No '/', spaces, '?', '%', ...
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class Location:
    """Where one file or folder lives: an S3 object (``bucket``/``key``) or a local ``path``."""

    scheme: str  # "s3a", "s3" or "file" (plain paths are "file" too)
    original: str  # the string as the job named it
    bucket: str | None = None
    key: str | None = None  # "" for a bucket root (only where no key is required)
    path: str | None = None  # absolute local path

    @property
    def is_s3(self) -> bool:
        return self.scheme in S3_SCHEMES

    @property
    def local_path(self) -> str:
        """The absolute path of a local location (every local one has it; an S3 one has none)."""
        if self.path is None:
            raise ValueError(f"{self.original!r} is not a local path")
        return self.path

    @property
    def s3_object(self) -> tuple[str, str]:
        """``(bucket, key)`` of an S3 location (every S3 one has them; a local one has none)."""
        if self.bucket is None or self.key is None:
            raise ValueError(f"{self.original!r} is not an S3 location")
        return self.bucket, self.key

    @property
    def basename(self) -> str:
        """The last path component (what CNVkit derives sample names from)."""
        if self.is_s3:
            return posixpath.basename((self.key or "").rstrip("/"))
        return os.path.basename((self.path or "").rstrip("/"))

    @property
    def uri(self) -> str:
        """A normalised form: ``s3a://bucket/key`` (scheme kept) or the absolute local path."""
        if self.is_s3:
            return f"{self.scheme}://{self.bucket}/{self.key}"
        return self.path or ""

    def sibling(self, name: str) -> Location:
        """The location of ``name`` in the same folder / under the same key prefix."""
        if self.is_s3:
            key = self.key or ""
            head = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
            return Location(self.scheme, f"{self.scheme}://{self.bucket}/{head}{name}",
                            bucket=self.bucket, key=head + name)
        path = os.path.join(os.path.dirname(self.path or ""), name)
        return Location("file", path, path=path)

    def child(self, relative: str) -> Location:
        """``relative`` (a '/'-separated path) below this folder location."""
        relative = relative.lstrip("/")
        if self.is_s3:
            prefix = self.key or ""
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            key = prefix + relative
            return Location(self.scheme, f"{self.scheme}://{self.bucket}/{key}",
                            bucket=self.bucket, key=key)
        path = os.path.join(self.path or "", *relative.split("/"))
        return Location("file", path, path=path)

    def __str__(self) -> str:
        return self.uri


def parse_location(
    value: object,
    field: str = "path",
    *,
    require_key: bool = True,
    base_dir: str | os.PathLike | None = None,
) -> Location:
    """Parse one path as a job names it; raise :class:`InvalidRequest` naming ``field``.

    ``require_key=False`` accepts a bucket root (``s3a://bucket`` or ``s3a://bucket/``), which is
    valid for a destination folder such as ``output_dir`` but not for an input file.
    """
    if not isinstance(value, str):
        raise InvalidRequest(f"must be a path string, not {type(value).__name__}", field=field)
    if not value.strip():
        raise InvalidRequest("is empty; give " + SUPPORTED, field=field)
    if value != value.strip():
        raise InvalidRequest(f"{value!r} has leading or trailing whitespace", field=field)
    if _CONTROL.search(value):
        raise InvalidRequest(f"{value!r} contains control characters", field=field)

    m = _SCHEME.match(value)
    scheme = m.group(1).lower() if m else None
    if scheme is not None and len(scheme) == 1 and os.name == "nt":  # pragma: no cover
        scheme = None  # a Windows drive letter
    if scheme is None:
        return _local(value, value, field, base_dir)
    assert m is not None  # a scheme was read from this match
    rest = value[m.end():]
    if not rest.startswith("//"):
        if scheme in S3_SCHEMES + ("file",):
            raise InvalidRequest(f"{value!r} is malformed: expected {scheme}://…", field=field)
        # "name:with:colons" is a legal relative file name; only "x://" is a URL.
        return _local(value, value, field, base_dir)
    rest = rest[2:]
    if scheme in S3_SCHEMES:
        return _s3(scheme, value, rest, field, require_key)
    if scheme == "file":
        host, sep, path = rest.partition("/")
        if host not in ("", "localhost"):
            raise InvalidRequest(
                f"{value!r}: file:// URLs must be absolute (file:///path) and name no other "
                f"host than localhost (got host {host!r})",
                field=field,
            )
        return _local("/" + unquote(path), value, field, base_dir)
    raise InvalidRequest(
        f"{value!r} uses the unsupported scheme {scheme}://; use {SUPPORTED}", field=field
    )


def _s3(scheme: str, original: str, rest: str, field: str, require_key: bool) -> Location:
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InvalidRequest(f"{original!r} names no bucket ({scheme}://bucket/key)", field=field)
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidRequest(
            f"{original!r}: {bucket!r} is not a valid bucket name (3-255 letters, digits, '.', "
            f"'-' or '_', starting and ending with a letter or digit)",
            field=field,
        )
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidRequest(f"{original!r}: the object key is longer than 1024 bytes", field=field)
    if require_key:
        if not key:
            raise InvalidRequest(
                f"{original!r} names a bucket but no object ({scheme}://{bucket}/key)", field=field
            )
        if key.endswith("/"):
            raise InvalidRequest(f"{original!r} names a folder, not a file", field=field)
        if posixpath.basename(key) in (".", ".."):
            raise InvalidRequest(f"{original!r} does not end in a file name", field=field)
    return Location(scheme, original, bucket=bucket, key=key)


def _local(path: str, original: str, field: str, base_dir) -> Location:
    if not path:
        raise InvalidRequest(f"{original!r} names no file", field=field)
    if "\x00" in path:
        raise InvalidRequest(f"{original!r} contains a NUL byte", field=field)
    if not os.path.isabs(path):
        path = os.path.join(os.fspath(base_dir) if base_dir is not None else os.getcwd(), path)
    return Location("file", original, path=os.path.normpath(path))
