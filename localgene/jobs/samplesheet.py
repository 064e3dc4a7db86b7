"""Batch submission: a sample sheet (one row per experimental sample) or several job files.

A sample sheet is a TSV file with a header row. Columns:

``experimental_input`` (required)
    One experimental BAM (plain path or ``file://``/``s3://`` location).
``output_dir`` (optional)
    Where that row's results are delivered (``output_dir/<instance_id>/``); an empty cell or
    no such column takes the base job's ``output_dir``.

Everything else — ``control_inputs``, ``ref``, ``bed``, ``has_annotate``/``annotation_file``,
every ``*_conf`` string and the default ``output_dir`` — comes from a *base job* (a job body
in the service's JSON format, given with ``--base``). A base's own ``experimental_inputs``, if
any, is replaced by each row's. Blank lines and lines starting with ``#`` are skipped; any
other column is refused. Relative paths (in the sheet and the base) are taken from the current
folder, as for job files.

Each row becomes one complete CNVkit job, checked exactly as ``localgene submit job.json``
checks it. A batch is all or nothing: every job is checked first, and only if all pass are
they recorded, in one transaction (:meth:`Store.submit_many`). A refusal names the file, the
line and the column (or the base job's field) in one line.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localgene.errors import InvalidRequest, LocalgeneError

if TYPE_CHECKING:
    from localgene.cnvkit.plan import Plan

REQUIRED = ("experimental_input",)
OPTIONAL = ("output_dir",)
COLUMNS = REQUIRED + OPTIONAL


@dataclass
class BatchItem:
    """One job of a batch: its body, and how to name its origin in messages."""

    body: dict[str, Any]
    origin: str  # e.g. "sheet.tsv line 3" or "job2.json"
    columns: dict[str, str]  # job field -> sheet column, for the fields a row supplied


def _refuse(origin: str, where: str | None, exc: LocalgeneError) -> LocalgeneError:
    """The same error class, its message prefixed with the origin (file, line, column)."""
    message = str(exc)
    if where and exc.field and message.startswith(f"{exc.field}: "):
        message = message[len(exc.field) + 2 :]
    out = type(exc)(f"{origin}{', ' + where if where else ''}: {message}")
    out.field = exc.field
    return out


def read_sheet(path: str | os.PathLike) -> list[tuple[int, dict[str, str]]]:
    """``[(line number, {column: value})]`` of a sample sheet; refuses bad headers and rows."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidRequest(f"cannot read sample sheet {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"sample sheet {name} is not UTF-8 text") from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InvalidRequest(f"sample sheet {name} is empty (expected a header row: {', '.join(COLUMNS)})")
    header_line, header_text = lines[0]
    header = [h.strip() for h in next(csv.reader([header_text], delimiter="\t"))]
    for col in header:
        if col not in COLUMNS:
            hint = " (columns are separated by tabs)" if " " in col or "," in col else ""
            raise InvalidRequest(f"{name} line {header_line}: unknown column {col!r}{hint}; "
                                 f"known columns: {', '.join(COLUMNS)}")
    for col in REQUIRED:
        if col not in header:
            raise InvalidRequest(f"{name} line {header_line}: the header has no {col!r} column")
    dupes = {c for c in header if header.count(c) > 1}
    if dupes:
        raise InvalidRequest(f"{name} line {header_line}: column {sorted(dupes)[0]!r} appears twice")
    rows: list[tuple[int, dict[str, str]]] = []
    seen: dict[str, int] = {}
    for lineno, line in lines[1:]:
        cells = next(csv.reader([line], delimiter="\t"))
        if len(cells) > len(header):
            raise InvalidRequest(f"{name} line {lineno}: {len(cells)} cells but the header has "
                                 f"{len(header)} columns ({', '.join(header)})")
        row = {col: (cells[i].strip() if i < len(cells) else "") for i, col in enumerate(header)}
        bam = row["experimental_input"]
        if not bam:
            raise InvalidRequest(f"{name} line {lineno}, column experimental_input: is empty")
        if bam in seen:
            raise InvalidRequest(f"{name} line {lineno}, column experimental_input: {bam} is "
                                 f"already on line {seen[bam]}")
        seen[bam] = lineno
        rows.append((lineno, row))
    if not rows:
        raise InvalidRequest(f"sample sheet {name} has a header but no sample rows")
    return rows


def expand_sheet(sheet: str | os.PathLike, base: dict[str, Any]) -> list[BatchItem]:
    """One job body per sheet row: the base job with that row's experimental input and
    (if given) output_dir. Bodies are not checked here (see :func:`check_batch`)."""
    items = []
    for lineno, row in read_sheet(sheet):
        body = {k: v for k, v in base.items() if k != "experimental_inputs"}
        body["experimental_inputs"] = [row["experimental_input"]]
        columns = {"experimental_inputs": "experimental_input"}
        if row.get("output_dir"):
            body["output_dir"] = row["output_dir"]
            columns["output_dir"] = "output_dir"
        items.append(BatchItem(body=body, origin=f"{sheet} line {lineno}", columns=columns))
    return items


def _where(item: BatchItem, field: str | None, base_name: str | None) -> str | None:
    """Which sheet column or base-job field a refused field came from."""
    if not field or not item.columns:
        return None  # a job file: the message already names the field
    top = field.split("[", 1)[0].split(".", 1)[0]
    if top in item.columns:
        return f"column {item.columns[top]}"
    return f"field {top} of the base job {base_name}" if base_name else f"field {top}"


def check_batch(items: list[BatchItem], *, base_name: str | None = None,
                settings: Any = None) -> list[tuple[BatchItem, tuple[dict[str, Any], Plan | list[str], int]]]:
    """Check every job of a batch as ``submit`` does; ``[(item, (request, plan or warnings, input size))]``.

    Raises the first refusal, prefixed with where it came from; nothing is recorded."""
    from localgene.jobs import service

    checked: list[tuple[BatchItem, tuple[dict[str, Any], Plan | list[str], int]]] = []
    for item in items:
        try:
            if "job_type" in item.body:  # a pipeline body: (request, its warnings, input size)
                checked.append((item, service.check_pipeline(item.body, settings=settings)))
                continue
            checked.append((item, service.check_cnvkit(item.body, settings=settings)))
        except LocalgeneError as exc:
            raise _refuse(item.origin, _where(item, exc.field, base_name), exc) from None
    return checked


def submit_batch(store, items: list[BatchItem], *, project_id: str, owner: str,
                 base_name: str | None = None, settings: Any = None) -> list:
    """Check every job, then record all of them in one transaction; returns their records."""
    from localgene.jobs.bodies import CNVKIT_KIND, new_record

    records = [
        new_record(project_id, owner, request.get("job_type", CNVKIT_KIND), request, input_size=size,
                   warnings=checked if isinstance(checked, list) else checked.warnings)
        for _, (request, checked, size) in check_batch(items, base_name=base_name, settings=settings)
    ]
    store.submit_many(records)
    return records
