"""Sections every job kind's report ends with, read from ``results/job.json``: the options each
step ran with, the warnings, the tool versions and the per-step timeline.

A job.json in CNVkit's shape (``steps``: step -> argv list or option text, ``warnings``,
``versions``, ``timeline``) is read as is; a pipeline whose job.json differs gives a
:class:`Record` (see ``RECORDS`` in :mod:`localgene.report`)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Sequence

from localgene.report.page import Section, fragment, table
from localgene.report.timeline import timeline_svg


def _argv_text(argv: Any) -> str:
    if isinstance(argv, (list, tuple)):
        return shlex.join(str(a) for a in argv) if argv else ""
    return "" if argv is None else str(argv)


@dataclass(frozen=True)
class Record:
    """What the shared sections show: (step, command or options) rows, in order (a step with
    several commands has several rows), warnings, tool -> version, timeline entries."""

    options: Sequence[tuple[str, str]] = ()
    warnings: Sequence[str] = ()
    versions: dict[str, str] = field(default_factory=dict)
    timeline: Sequence[dict[str, Any]] = ()


def record_of(summary: dict[str, Any]) -> Record:
    """The record of a job.json in CNVkit's shape."""
    steps = summary.get("steps") or {}
    return Record(
        options=[(step, _argv_text(argv) or "(defaults)") for step, argv in steps.items()],
        warnings=[str(w) for w in summary.get("warnings") or []],
        versions=dict(summary.get("versions") or {}),
        timeline=list(summary.get("timeline") or []),
    )


def run_record(record: Record) -> Section:
    options = table(["step", "options"], record.options, empty="no step options recorded")
    versions = table(["tool", "version"], sorted(record.versions.items()), empty="no tool versions recorded")
    return Section("run", "Run record", fragment(
        "run_record.html.j2", options=options, versions=versions, warnings=list(record.warnings)))


def timeline(record: Record) -> Section:
    entries = list(record.timeline)
    svg = timeline_svg(entries) if entries else None
    return Section("timeline", "Timeline", fragment("timeline.html.j2", svg=svg, count=len(entries)))


def sections(summary: dict[str, Any], record: Record | None = None) -> list[Section]:
    record = record if record is not None else record_of(summary)
    return [run_record(record), timeline(record)]
