"""The per-job HTML report: ``results/report.html``, one self-contained page per job.

A report is the shared page chrome (:mod:`localgene.report.page`) around the sections of the
job's kind. Each kind registers one function in :data:`KINDS` that reads the job's
``results/`` folder and returns its :class:`~localgene.report.page.Section` list; the run
record (options, warnings, versions) and the step timeline are shared sections every kind
gets. ``docs/report.md`` describes how a pipeline adds its own sections.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from localgene import fileio
from localgene.report import cnvkit, common, dna, rna
from localgene.report.page import Section, render_page

#: Where a job's report is, relative to its job folder (the report rule writes it there).
REPORT_PATH = "results/report.html"

#: Job kind -> the function that builds its own sections from (job folder, job.json, paths),
#: ``paths`` being the workflow's layout (name -> path pattern relative to the job folder).
SectionBuilder = Callable[[Path, dict[str, Any], Mapping[str, str]], list[Section]]
KINDS: dict[str, SectionBuilder] = {
    "CNVKIT": cnvkit.sections,
    "RNA_DIFF_EXPR": rna.sections,
    "DNA_GERMLINE": dna.sections,
    "DNA_SOMATIC": dna.sections,
}
#: How the page names each kind.
TITLES: dict[str, str] = {
    "CNVKIT": "CNVkit copy-number",
    "RNA_DIFF_EXPR": "RNA differential expression",
    "DNA_GERMLINE": "DNA germline variant",
    "DNA_SOMATIC": "DNA somatic variant",
}
#: Job kind -> the function that reads its run record (options, warnings, versions, timeline)
#: from (job folder, job.json, paths), for a job.json not in CNVkit's shape (common.record_of).
RecordReader = Callable[[Path, dict[str, Any], Mapping[str, str]], common.Record]
RECORDS: dict[str, RecordReader] = {
    "RNA_DIFF_EXPR": rna.run_record,
    "DNA_GERMLINE": dna.run_record,
    "DNA_SOMATIC": dna.run_record,
}


def job_kind(summary: dict[str, Any]) -> str:
    """The kind a job.json describes: its ``job_type`` (pipeline jobs), else CNVKIT."""
    return str(summary.get("job_type") or "CNVKIT").upper()


def render(job_dir: str | os.PathLike[str], paths: Mapping[str, str], kind: str | None = None) -> str:
    """The report of the job in ``job_dir``; ``paths["summary"]`` is its job.json."""
    job_dir = Path(job_dir)
    summary = json.loads((job_dir / paths["summary"]).read_text())
    kind = kind or job_kind(summary)
    builder = KINDS.get(kind)
    if builder is None:
        raise KeyError(f"no report for job kind {kind!r} (known: {', '.join(KINDS)})")
    own = builder(job_dir, summary, paths)
    reader = RECORDS.get(kind)
    record = reader(job_dir, summary, paths) if reader is not None else None
    sections = [*own, *common.sections(summary, record)]
    return render_page(kind=TITLES.get(kind, kind), summary=summary, sections=sections)


def write_report(job_dir: str | os.PathLike[str], paths: Mapping[str, str], out: str | os.PathLike[str], kind: str | None = None) -> Path:
    """Render the report into ``out`` (relative paths: inside ``job_dir``); returns the path."""
    out = Path(job_dir) / out
    html = render(job_dir, paths, kind)
    fileio.atomic_write_text(out, html)
    return out
