"""The files of a pipeline body (DNA_GERMLINE, DNA_SOMATIC, RNA_DIFF_EXPR): which fields name
them, reading and writing them by field path, and the submit-time checks of their content.

Field paths are the ones error messages use: ``ref``, ``knownsites[0]``,
``inputs[1].group_inputs[0].files[1]``. :func:`input_fields` lists every input (reference
fields first, then reads, in body order); :func:`output_fields` the destinations, which are
never resolved or staged (delivery writes them). :func:`with_values` puts local paths back
into a copy of the body, so the workflow's ``config.json`` is the submitted body with local
paths.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Mapping
from copy import deepcopy
from typing import Any, Iterator

from localgene.errors import InvalidRequest
from localgene.jobs.bodies import PIPELINE_OUTPUT_FIELDS, PIPELINE_REFERENCE_FIELDS

#: Fields that may hold a reference (a registry name or a path), per pipeline, in body order.
#: (Read from the body models' field markers.)
REFERENCE_FIELDS: dict[str, tuple[str, ...]] = PIPELINE_REFERENCE_FIELDS
#: Destination fields, per pipeline (kept as given: delivery handles s3 or local).
OUTPUT_FIELDS: dict[str, tuple[str, ...]] = PIPELINE_OUTPUT_FIELDS
#: How many reads of each FASTQ file the submit check reads (format and R1/R2 names).
CHECK_READS = 1000
#: Bytes of a FASTQ object in object storage read at submit (one ranged GET from its start).
OBJECT_CHECK_BYTES = 256 * 1024
#: At most this much decompressed text of an object's start is looked at (a guard against
#: compression bombs; 1000 reads of 2x150 bp are ~350 kB).
MAX_CHECK_TEXT = 4 * 1024 * 1024
CHUNK = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _items(request: Mapping[str, Any], name: str) -> Iterator[tuple[str, str]]:
    value = request.get(name)
    if isinstance(value, str) and value:
        yield name, value
    elif isinstance(value, list):
        yield from ((f"{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str) and v)


def read_pairs(request: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """``[(field path of the list, [files])]`` for every sample's reads (two FASTQ or one BAM)."""
    kind = request.get("job_type")
    if kind == "DNA_GERMLINE":
        return [("input", list(request.get("input") or []))]
    if kind == "DNA_SOMATIC":
        return [(f"inputs[{i}].sample_inputs", list(s.get("sample_inputs") or []))
                for i, s in enumerate(request.get("inputs") or [])]
    if kind == "RNA_DIFF_EXPR":
        return [(f"inputs[{g}].group_inputs[{s}].files", list(sample.get("files") or []))
                for g, group in enumerate(request.get("inputs") or [])
                for s, sample in enumerate(group.get("group_inputs") or [])]
    return []


def reference_fields(request: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in REFERENCE_FIELDS.get(request.get("job_type", ""), ()):
        out.update(_items(request, name))
    return out


def read_fields(request: Mapping[str, Any]) -> dict[str, str]:
    return {f"{field}[{i}]": path for field, files in read_pairs(request) for i, path in enumerate(files)}


def input_fields(request: Mapping[str, Any]) -> dict[str, str]:
    """Every input file field of a pipeline body: field path -> value as sent."""
    return {**reference_fields(request), **read_fields(request)}


def output_fields(request: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in OUTPUT_FIELDS.get(request.get("job_type", ""), ()):
        out.update(_items(request, name))
    return out


def _tokens(path: str) -> list[str | int]:
    out: list[str | int] = []
    for name, index in _TOKEN.findall(path):
        out.append(name if name else int(index))
    return out


def with_values(request: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``request`` with each field path in ``values`` set to its value (labels
    that are not field paths of the body, such as companions ``ref~1``, are ignored)."""
    out = deepcopy(dict(request))
    for label, value in values.items():
        if "~" in label:
            continue
        *head, last = _tokens(label)
        node: Any = out
        for tok in head:
            node = node[tok]
        node[last] = value
    return out


# -- submit-time checks -----------------------------------------------------------------------


def check_replicates(request: Mapping[str, Any]) -> None:
    """RNA_DIFF_EXPR: every group has at least two samples (DESeq2 estimates dispersion from
    replicates)."""
    if request.get("job_type") != "RNA_DIFF_EXPR":
        return
    for g, group in enumerate(request.get("inputs") or []):
        n = len(group.get("group_inputs") or [])
        if n < 2:
            raise InvalidRequest(f"group {group.get('group_name')!r} has {n} sample; differential expression "
                                 "(DESeq2) needs at least two replicates per group",
                                 field=f"inputs[{g}].group_inputs")


def _open_text(path: str, field: str):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rt", encoding="ascii", errors="replace")
    if path.lower().endswith(".gz"):
        raise InvalidRequest("ends with .gz but is not gzip-compressed", field=field)
    return open(path, encoding="ascii", errors="replace")


def _record_names(lines: Iterator[str], field: str, limit: int, *, partial: bool = False) -> list[str]:
    """The names of the first ``limit`` FASTQ records in ``lines``, checking that each record is
    four lines (``@name``, sequence, ``+``, qualities of the same length). ``partial``: the lines
    are the start of a longer file, so a record cut short at the end is not an error."""
    names: list[str] = []
    while len(names) < limit:
        head = next(lines, "")
        if not head:
            break
        seq, plus, qual = next(lines, ""), next(lines, ""), next(lines, "")
        n = len(names) + 1
        if not head.startswith("@"):
            raise InvalidRequest(f"is not FASTQ: record {n} does not start with '@'", field=field)
        if partial and not qual:
            break  # the record goes on past the bytes read
        if not plus.startswith("+") or not qual:
            raise InvalidRequest(f"is not FASTQ: record {n} is not four lines (@name, sequence, +, "
                                 "qualities)", field=field)
        if len(seq.rstrip("\r\n")) != len(qual.rstrip("\r\n")):
            raise InvalidRequest(f"is not FASTQ: record {n} has {len(seq.rstrip())} bases but "
                                 f"{len(qual.rstrip())} quality values", field=field)
        names.append(_pair_name(head))
    return names


def read_names(path: str, field: str, limit: int = CHECK_READS) -> list[str]:
    """The names of the first ``limit`` reads of a FASTQ file (plain or gzip), checking that
    each record is four lines (``@name``, sequence, ``+``, qualities of the same length).
    Raises :class:`InvalidRequest` naming ``field``."""
    try:
        with _open_text(path, field) as fh:
            names = _record_names(iter(fh), field, limit)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, PermissionError):
            raise InvalidRequest("cannot be read (permission denied)", field=field) from None
        raise InvalidRequest(f"is not readable gzip or plain text: {exc}", field=field) from None
    if not names:
        raise InvalidRequest("holds no reads", field=field)
    return names


def _gunzip_start(data: bytes, whole: bool, field: str, lines: int) -> tuple[bytes, bool]:
    """The decompressed start of a gzip file (every member, as gzip reads them) from its first
    bytes ``data``: at least ``lines`` lines of it when there are, and at most
    :data:`MAX_CHECK_TEXT` bytes. Returns the text and whether it is all the file holds.
    ``whole``: ``data`` is the whole file, so a stream that stops early is an error."""
    out = bytearray()
    newlines = 0
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = data
    while len(out) < MAX_CHECK_TEXT:
        try:
            chunk = inflate.decompress(pending, min(CHUNK, MAX_CHECK_TEXT - len(out)))
        except zlib.error as exc:
            raise InvalidRequest(f"is not readable gzip: {exc}", field=field) from None
        out += chunk
        newlines += chunk.count(b"\n")
        if newlines > lines:
            return bytes(out), False
        if inflate.eof:
            pending = inflate.unused_data
            if not pending or pending[:2] != GZIP_MAGIC:
                return bytes(out), whole  # trailing bytes after the last member are ignored, as gzip does
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            continue
        pending = inflate.unconsumed_tail
        if not pending and not chunk:
            if whole:
                raise InvalidRequest("is not readable gzip: the compressed data ends before its "
                                     "end-of-stream marker (a truncated file?)", field=field)
            return bytes(out), False
    return bytes(out), False


def object_read_names(data: bytes, whole: bool, name: str, field: str, limit: int = CHECK_READS) -> list[str]:
    """:func:`read_names` for a file of which only the first bytes ``data`` were read (an
    object's ranged GET); ``whole``: they are the whole file. ``name`` is its file name (a
    ``.gz`` name must be gzip). A record cut short by the end of ``data`` is not counted."""
    if data[:2] == GZIP_MAGIC:
        text, complete = _gunzip_start(data, whole, field, 4 * limit)
    elif name.lower().endswith(".gz"):
        raise InvalidRequest("ends with .gz but is not gzip-compressed", field=field)
    else:
        text, complete = data, whole
    if not complete and b"\n" in text:
        text = text[: text.rindex(b"\n") + 1]  # the last line may go on past the bytes read
    lines = iter(text.decode("ascii", errors="replace").splitlines(keepends=True))
    names = _record_names(lines, field, limit, partial=not complete)
    if not names:
        if complete:
            raise InvalidRequest("holds no reads", field=field)
        raise InvalidRequest(f"is not FASTQ: no complete record in its first {len(data)} bytes", field=field)
    return names


def _pair_name(header: str) -> str:
    """A read's name as both mates carry it: the first word, without a /1 or /2 suffix."""
    name = header[1:].split(maxsplit=1)[0] if header[1:].strip() else ""
    return name[:-2] if name.endswith(("/1", "/2")) else name


#: Reads the start of an object: ``() -> (first bytes, whether they are the whole object)``.
ObjectStart = Callable[[], tuple[bytes, bool]]


def check_fastq(request: Mapping[str, Any], local_paths: Mapping[str, str],
                objects: Mapping[str, tuple[str, ObjectStart]] | None = None) -> None:
    """Every FASTQ pair of a body: readable, FASTQ, and R1/R2 with the same read names in the
    same order at the start. ``local_paths`` maps field paths to local files, ``objects`` field
    paths of files in object storage to ``(file name, reader of its first bytes)``: an object is
    checked on the reads that its first bytes hold (a ranged GET, never a download), and R1/R2
    are compared over the reads both starts hold. A field in neither is not checked."""
    objects = objects or {}
    if request.get("job_type") in ("DNA_GERMLINE", "DNA_SOMATIC") and str(request.get("file_type", "")).upper() != "FASTQ":
        return
    for field, files in read_pairs(request):
        labels = [f"{field}[{i}]" for i in range(len(files))]
        if len(files) != 2 or any(label not in local_paths and label not in objects for label in labels):
            continue
        reads = []
        for label in labels:
            if label in local_paths:
                reads.append((read_names(local_paths[label], label), True))
            else:
                name, start = objects[label]
                data, whole = start()
                reads.append((object_read_names(data, whole, name, label), whole))
        (first, first_whole), (second, second_whole) = reads
        for i, (a, b) in enumerate(zip(first, second), 1):
            if a != b:
                raise InvalidRequest(f"does not pair with {labels[0]}: read {i} is {b!r} here and {a!r} "
                                     "there (R1 and R2 must list the same reads in the same order)",
                                     field=labels[1])
        if len(first) != len(second) and (
                (len(first) < len(second) and first_whole) or (len(second) < len(first) and second_whole)):
            short = labels[0] if len(first) < len(second) else labels[1]
            raise InvalidRequest(f"has fewer reads than its mate ({min(len(first), len(second))}); "
                                 "R1 and R2 must list the same reads", field=short)


def absolute_paths(request: Mapping[str, Any], base) -> dict[str, Any]:
    """Relative local paths of a pipeline body made absolute against ``base`` (URLs and
    registry names, i.e. reference values without ``/``, left as they are)."""
    from pathlib import Path

    from localgene.jobs.references import is_name

    reads = read_fields(request)
    values = {}
    for label, value in {**input_fields(request), **output_fields(request)}.items():
        if "://" in value or Path(value).is_absolute():
            continue
        if label not in reads and label in reference_fields(request) and is_name(value):
            continue
        fixed = str((Path(base) / value).resolve())
        values[label] = fixed + ("/" if value.endswith("/") else "")
    return with_values(request, values)
