"""Sections every job kind's report ends with, read from ``results/job.json``: the options each
step ran with, the warnings, the tool versions and the per-step timeline."""

from __future__ import annotations

import shlex
from typing import Any

from localgene.report.page import Section, fragment, table
from localgene.report.timeline import timeline_svg


def _argv_text(argv: Any) -> str:
    if isinstance(argv, (list, tuple)):
        return shlex.join(str(a) for a in argv) if argv else ""
    return "" if argv is None else str(argv)


def run_record(summary: dict[str, Any]) -> Section:
    steps = summary.get("steps") or {}
    options = table(["step", "options"], [(step, _argv_text(argv) or "(defaults)") for step, argv in steps.items()],
                    empty="no step options recorded")
    versions = table(["tool", "version"], sorted((summary.get("versions") or {}).items()),
                     empty="no tool versions recorded")
    return Section("run", "Run record", fragment(
        "run_record.html.j2", options=options, versions=versions,
        warnings=[str(w) for w in summary.get("warnings") or []]))


def timeline(summary: dict[str, Any]) -> Section:
    entries = summary.get("timeline")
    svg = timeline_svg(entries) if entries else None
    return Section("timeline", "Timeline", fragment("timeline.html.j2", svg=svg, count=len(entries or [])))


def sections(summary: dict[str, Any]) -> list[Section]:
    return [run_record(summary), timeline(summary)]
