"""localgene's own (non-CNVkit) steps of the CNVkit workflow, run in Snakemake's own process.

One function per rule: exposing inputs with their indexes, checking them, preparing the
annotation, writing the job summary and report, delivering results. Each rule's ``run:`` block
calls :func:`run_step` (``rules/common.smk``: ``localgene_step(...)``), which with the workflow
profile's ``force-use-threads`` runs in one of Snakemake's threads: no Python process to start
and no imports to pay again (about 1.2 s a step as a ``script:``). Each function writes what it
has to say to the step's log, never to stdout (threads share it). One rule is called directly:
``segment_check`` (:func:`segment_check`), whose work runs where CNVkit is imported, as a CNVkit
step's does, with that step's own log and timeline record.

A refused input is written to the rule's log as one ``error: …`` line (which localgene shows
as the job's failure reason) and the step fails with :class:`StepFailed`, without a traceback
in the log. Each step adds its record to the job's timeline (:mod:`localgene.run.timeline`) with
runner ``thread``: CPU is the thread's own, peak memory is that of the process it ran in.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from localgene import storage
from localgene.cnvkit import annotation, inputs
from localgene.cnvkit.segment_check import not_needed
from localgene.cnvkit.step import run_entry, server_socket
from localgene.errors import LocalgeneError
from localgene.run import timeline


class StepFailed(Exception):
    """A localgene step refused its inputs or failed; the reason is the last line of its log."""


def reference_fasta(params, input, output, log: IO[str]) -> None:  # noqa: A002 (Snakemake's names)
    inputs.link_fasta(params.src, output.fasta)


def sample_bam(params, input, output, log: IO[str]) -> None:  # noqa: A002
    inputs.link_bam(params.src, output.bam, field=params.field)


def check_inputs(params, input, output, log: IO[str]) -> None:  # noqa: A002
    inputs.write_json(output[0], inputs.check_inputs(input.fai, dict(zip(params.samples, input.bams)), params.bed))


def annotation_file(params, input, output, log: IO[str]) -> None:  # noqa: A002
    fmt = annotation.prepare_annotation(params.src, output[0])
    log.write(f"annotation format: {fmt}\n")


def segment_check(params: Any, output: str, log: str, conda_prefix: str | None = None) -> None:
    """Rule ``segment_check``: the CBS pitfall check (:mod:`localgene.cnvkit.segment_check`), which
    reads the ``.cnr`` files with CNVkit: forked by the job's step server (CNVkit imported already),
    else ``python -m localgene.cnvkit.segment_check`` (a conda environment's Python with one),
    never in Snakemake's process. ``{sample: warning}`` is written to ``output`` (``{}`` without
    CBS, or with ``--drop-low-coverage``: nothing to check, nothing imported)."""
    why_not = not_needed(params.method, params.drop_low_coverage)
    if why_not:
        start, cpu_start = time.time(), time.thread_time()
        with open(log, "w") as opened:
            opened.write(f"no check needed: {why_not}\n")
        inputs.write_json(output, {})
        _record_thread_step("segment_check", {}, log, start, cpu_start)
        return
    request = {"cnrs": dict(params.cnrs), "method": params.method,
               "drop_low_coverage": params.drop_low_coverage, "out": output}
    code = run_entry("segment_check", [json.dumps(request)], log, step="segment_check", conda_prefix=conda_prefix)
    if code != 0:
        raise StepFailed(f"the CBS check of the .cnr files exited with code {code}; see {log}")


def summary(params, input, output, log: IO[str]) -> None:  # noqa: A002
    with open(input.segment_check) as fh:
        found: dict[str, str] = json.load(fh)
    for sample, warning in found.items():
        with open(params.segment_logs[sample], "a") as segment_log:
            segment_log.write(f"localgene: warning: {warning}\n")
        log.write(f"warning: {warning}\n")
    # where the time went: every step that ended before this one (localgene.run.timeline)
    inputs.write_json(output[0], {**params.summary, "warnings": [*params.summary["warnings"], *found.values()],
                                  "timeline": timeline.read()})


REPORT_PAGE_LOG = "logs/report_page.log"


def report_page(params, input, output, log: IO[str]) -> None:  # noqa: A002
    """The report page: forked by the job's CNVkit step server where it runs (pandas and jinja2
    imported there already; its own log and timeline record, ``report_page``), else here."""
    if server_socket() is not None:
        request = {"paths": dict(params.paths), "out": output[0]}
        code = run_entry("report", [json.dumps(request)], REPORT_PAGE_LOG, step="report_page")
        if code != 0:
            raise StepFailed(f"the report page exited with code {code}; see {REPORT_PAGE_LOG}")
        log.write(f"report page written by the job's CNVkit step server (log: {REPORT_PAGE_LOG})\n")
        return
    from localgene import report  # pandas and jinja2: only this step needs them

    report.write_report(".", params.paths, output[0])


def deliver(params, input, output, log: IO[str]) -> None:  # noqa: A002
    files = storage.deliver_results(params.results, params.output_dir, params.run_id)
    inputs.write_json(output[0], {"destination": params.destination, "files": files})


STEPS: Mapping[str, Callable[..., None]] = {
    "reference_fasta": reference_fasta,
    "sample_bam": sample_bam,
    "check_inputs": check_inputs,
    "annotation": annotation_file,
    "summary": summary,
    "report": report_page,
    "deliver": deliver,
}


def run_step(rule: str, *, params: Any, input: Any, output: Any, log: str,  # noqa: A002
             wildcards: Mapping[str, str]) -> None:
    """Run rule ``rule``'s step with its log at ``log``; :class:`StepFailed` when it fails."""
    start, cpu_start = time.time(), time.thread_time()
    with open(log, "w") as opened:
        try:
            STEPS[rule](params, input, output, opened)
        except LocalgeneError as exc:
            opened.write(f"error: {exc}\n")
            raise StepFailed(f"{rule}: {exc}") from None
    _record_thread_step(rule, wildcards, log, start, cpu_start)


def _record_thread_step(rule: str, wildcards: Mapping[str, str], log: str, start: float, cpu_start: float) -> None:
    """The timeline record of a step that ran in this thread, from its start and thread CPU then."""
    timeline.record(rule, dict(wildcards), log, start=start, end=time.time(),
                    cpu_s=time.thread_time() - cpu_start,
                    max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, runner="thread")
