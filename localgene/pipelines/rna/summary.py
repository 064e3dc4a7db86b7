"""``results/job.json`` of an RNA job, and delivering the results to the body's ``output``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from localgene import storage
from localgene.pipelines.rna import tools
from localgene.pipelines.rna.plan import LIBRARY_TYPES, RnaPlan

#: How each tool reports its version.
VERSION_COMMANDS = {
    "cutadapt": ["cutadapt", "--version"],
    "hisat2": ["hisat2", "--version"],
    "samtools": ["samtools", "--version"],
    "featureCounts": ["featureCounts", "-v"],
    "R": ["Rscript", "--version"],
    "DESeq2": ["Rscript", "--vanilla", "-e", 'cat("DESeq2", as.character(packageVersion("DESeq2")), "\\n")'],
}


def tool_versions(with_cutadapt: bool, reported: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each tool's version: as the job's own steps reported it (:func:`reported_versions`), else
    from its version command."""
    reported = reported or {}
    return {
        name: reported.get(name) or tools.version(argv)
        for name, argv in VERSION_COMMANDS.items()
        if with_cutadapt or name != "cutadapt"
    }


#: The line deseq2.R starts its log with: ``DESeq2 <version> on <R.version.string>``.
_DESEQ2_LINE = re.compile(r"^(DESeq2 \S+) on ")


def reported_versions(logs: Sequence[str | os.PathLike[str]],
                      cutadapt_reports: Sequence[str | os.PathLike[str]] = ()) -> dict[str, str]:
    """The versions the steps that ran reported, in the form of ``VERSION_COMMANDS``' output
    (so no R or cutadapt process starts again for it): DESeq2 from the ``de`` step's log,
    cutadapt from its JSON report (``cutadapt_version``)."""
    found: dict[str, str] = {}
    for log in logs:
        if Path(log).name == "de.log":
            try:
                lines = Path(log).read_text(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                if m := _DESEQ2_LINE.match(line):
                    found["DESeq2"] = m.group(1)
                    break
    for report in cutadapt_reports:
        try:
            version = json.loads(Path(report).read_text()).get("cutadapt_version")
        except (OSError, ValueError, AttributeError):
            continue
        if version:
            found["cutadapt"] = str(version)
            break
    return found


def step_commands(logs: Sequence[str | os.PathLike[str]]) -> dict[str, list[str]]:
    """Each step's commands: the ``$ ...`` lines of its log, keyed by the log's path."""
    out = {}
    for log in sorted(map(str, logs)):
        try:
            lines = Path(log).read_text(errors="replace").splitlines()
        except OSError:
            continue
        out[log] = [line[2:] for line in lines if line.startswith("$ ")]
    return out


def build_summary(
    plan: RnaPlan,
    request: Mapping[str, Any],
    index: Mapping[str, Any],
    strand_rows: Sequence[Mapping[str, Any]],
    warnings: Sequence[str],
    logs: Sequence[str | os.PathLike[str]],
    results: Mapping[str, Any],
    reported: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    setting = LIBRARY_TYPES[plan.library_type]
    return {
        "job_type": "RNA_DIFF_EXPR",
        "request": {k: v for k, v in request.items() if k not in ("instance_id", "index_cache")},
        "reference_level": plan.reference_group,
        "groups": {group: list(members) for group, members in plan.groups},
        "contrasts": [
            {"name": name, "group": group, "reference": plan.reference_group, "csv": f"de/{name}.csv",
             "log2FoldChange": f"{group} versus {plan.reference_group}"}
            for name, (group, _) in zip(plan.contrasts, plan.groups[1:])
        ],
        "library_type": plan.library_type,
        "featurecounts_strand": setting.featurecounts,
        "hisat2_rna_strandness": setting.hisat2,
        "adapter_trimming": plan.adapt is not None,
        "hisat2_index": dict(index),
        "strandedness": list(strand_rows),
        "warnings": list(warnings),
        "steps": step_commands(logs),
        "tool_versions": tool_versions(plan.adapt is not None, reported),
        "results": dict(results),
    }


def deliver(
    plan: RnaPlan, results_dir: str, run_id: str, first_csv: str | None, config: storage.S3Config | None = None
) -> dict[str, Any]:
    """Copy or upload the results.

    ``output`` a folder: everything to ``output/<run id>/``. ``output`` a ``.csv`` path: the
    first contrast's table to exactly that path, and everything to ``<its folder>/<run id>/``.
    """
    if plan.output_is_csv:
        assert first_csv is not None, "a body with a .csv output has a contrast (checked at submit)"
        where = storage.parse_location(plan.output, "output", require_key=True)
        folder = where.sibling("")
        table = storage.deliver_file(first_csv, plan.output, config)
        files = storage.deliver_results(results_dir, folder.uri, run_id, config)
        return {"destination": folder.child(run_id).uri, "table": table, "files": files}
    files = storage.deliver_results(results_dir, plan.output, run_id, config)
    return {"destination": storage.parse_location(plan.output, "output", require_key=False).child(run_id).uri,
            "files": files}
