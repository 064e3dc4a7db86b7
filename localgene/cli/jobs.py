"""Job commands: submit, list, show, cancel, retry, logs, stats, each written once against
:class:`localgene.jobs.interface.JobService` (the local store, or a server's API with ``--server``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from localgene.cli.identity import add_identity
from localgene.client import ENV_SERVER, ENV_TOKEN
from localgene.errors import InvalidRequest
from localgene.jobs import samplesheet
from localgene.jobs.bodies import PIPELINE_KINDS
from localgene.jobs.interface import JobService, LocalJobService
from localgene.run import workflow
from localgene.settings import Environment


def _print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _print_table(rows, total: int) -> None:
    """``list --table``: rows of (instance_id, status, progress, duration, owner)."""
    rows = list(rows)
    print(f"{'INSTANCE_ID':36}  {'STATUS':10}  {'PROGRESS':>8}  {'DURATION':>9}  OWNER")
    for instance_id, status, progress, duration, owner in rows:
        print(f"{instance_id:36}  {status:10}  {progress:>8}  {duration:>8}s  {owner}")
    print(f"({len(rows)} of {total})")


def _paging_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", default=None, help="records per page, 1..100 (default 10)")
    p.add_argument("--offset", default=None, help="records to skip (default 0)")
    p.add_argument("--start", default=None, help="only jobs started at or after this time (epoch ms)")
    p.add_argument("--end", default=None, help="only jobs started at or before this time (epoch ms)")


def _query(args: argparse.Namespace, names=("limit", "offset", "start", "end")) -> dict[str, str]:
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="record CNVkit or pipeline jobs for a worker to run; prints their ids",
                       description="Check and record one or more job bodies (JSON files): a CNVkit body, or "
                       "a pipeline body (DNA_GERMLINE, DNA_SOMATIC, RNA_DIFF_EXPR: its job_type decides). Each "
                       "accepted job is LAUNCHING until `localgene worker` runs it. Relative paths in a "
                       "body are taken from the current folder; in a pipeline body a reference value "
                       "without '/' is a name in the reference registry (`localgene references`).")
    p.add_argument("jobs", nargs="*", help="job body files (JSON)")
    p.add_argument("--sample-sheet", metavar="TSV",
                   help="one job per row of this TSV (columns: experimental_input, optional "
                   "output_dir); everything else from --base; see docs/batches.md")
    p.add_argument("--base", metavar="JSON",
                   help="with --sample-sheet: the job body whose controls, reference, BED, "
                   "annotation, options and output_dir every row shares")
    add_identity(p)
    _server_args(p)
    p.set_defaults(func=_cmd_submit)

    p = sub.add_parser("list", help="list jobs (the API's listing JSON, or a table)",
                       description="List the project's CNVkit jobs as GET .../gene/tools/cnvkit returns "
                       "them, newest first; with --job-type, pipeline jobs as GET .../gene/jobs.")
    p.add_argument("--instance-id", help="only this job")
    p.add_argument("--ids", metavar="FILE",
                   help="only the jobs whose instance_ids this file lists, one per line (- for "
                   "standard input), e.g. what `localgene submit` printed for a batch")
    p.add_argument("--job-type", choices=PIPELINE_KINDS, help="list pipeline jobs of this type")
    _paging_args(p)
    p.add_argument("--table", action="store_true", help="a human-readable table instead of JSON")
    add_identity(p)
    _server_args(p)
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("show", help="one job: status, progress, message, warnings, folder")
    p.add_argument("instance_id")
    add_identity(p)
    _server_args(p)
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("cancel", help="cancel a LAUNCHING or RUNNING job")
    p.add_argument("instance_id")
    add_identity(p)
    _server_args(p)
    p.set_defaults(func=_cmd_cancel)

    p = sub.add_parser("retry", help="run a FAILED or CANCELLED job again from where it stopped",
                       description="Put a FAILED or CANCELLED job back in the queue (LAUNCHING); the worker "
                       "that takes it resumes it in its own folder, so the steps that had finished are not "
                       "run again. A worker must be running (`localgene worker`).")
    p.add_argument("instance_id")
    add_identity(p)
    _server_args(p)
    p.set_defaults(func=_cmd_retry)

    p = sub.add_parser("logs", help="a job's Snakemake log, or one step's log")
    p.add_argument("instance_id")
    p.add_argument("--step", metavar="LOG", help="a step's log under logs/, e.g. segment/T1.log")
    p.add_argument("--tail", type=int, help="only the last N lines")
    add_identity(p)
    _server_args(p)
    p.set_defaults(func=_cmd_logs)

    p = sub.add_parser("stats", help="per-state totals and per-user figures (the API's statistics)")
    p.add_argument("--start", default=None, help="only jobs started at or after this time (epoch ms)")
    p.add_argument("--end", default=None, help="only jobs started at or before this time (epoch ms)")
    add_identity(p)
    _server_args(p)
    p.set_defaults(func=_cmd_stats)


def _batch(args: argparse.Namespace) -> list[samplesheet.BatchItem]:
    """The jobs to submit: one per job file, or one per sample-sheet row (paths made absolute)."""
    if args.sample_sheet:
        if args.jobs:
            raise InvalidRequest("give either job files or --sample-sheet, not both")
        if not args.base:
            raise InvalidRequest("--sample-sheet needs --base JOB.json (the controls, reference, "
                                 "BED and options every row shares)")
        base = workflow.load_body(args.base)
        if base.get("experimental_inputs"):
            print(f"note: {args.base}: experimental_inputs replaced by the rows of {args.sample_sheet}",
                  file=sys.stderr)
        items = samplesheet.expand_sheet(args.sample_sheet, base)
    else:
        if args.base:
            raise InvalidRequest("--base is used only with --sample-sheet")
        if not args.jobs:
            raise InvalidRequest("give one or more job files, or --sample-sheet TSV --base JOB.json")
        items = [samplesheet.BatchItem(body=workflow.load_body(path), origin=path, columns={})
                 for path in args.jobs]
    for item in items:
        item.body = workflow.absolute_paths(item.body, Path.cwd())
    return items


def _service(args: argparse.Namespace) -> contextlib.closing[JobService]:
    """The job service a command talks to: the server's API with ``--server``, else the local
    store (acting for the whole project, submitting as ``--owner``)."""
    svc: JobService
    if args.server:
        from localgene.client import Client

        svc = Client(args.server, args.token, project_id=args.project)
    else:
        svc = LocalJobService.open(project_id=args.project, owner=args.owner)
    return contextlib.closing(svc)


def _cmd_submit(args: argparse.Namespace) -> int:
    with _service(args) as jobs:
        items = _batch(args)
        for item, job in zip(items, jobs.submit(items, base_name=args.base)):
            for warning in job.warnings:
                print(f"warning: {item.origin}: {warning}", file=sys.stderr)
            print(job.instance_id)
    return 0


def _read_ids(path: str) -> list[str]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}", field="--ids") from None
    ids = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise InvalidRequest(f"{path} lists no instance_id", field="--ids")
    return ids


def _cmd_list(args: argparse.Namespace) -> int:
    with _service(args) as jobs:
        ids = _read_ids(args.ids) if args.ids else None
        listing = jobs.listing(job_type=args.job_type, instance_id=args.instance_id, ids=ids, paging=_query(args))
    if args.table:
        _print_table(listing.rows, listing.total)
    else:
        _print_json(listing.body)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    with _service(args) as jobs:
        _print_json(jobs.show(args.instance_id))
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    with _service(args) as jobs:
        job_id, status = jobs.cancel(args.instance_id)
    print(f"{job_id}: {status}")
    return 0


def _cmd_retry(args: argparse.Namespace) -> int:
    with _service(args) as jobs:
        job_id, status = jobs.retry(args.instance_id)
    print(f"{job_id}: {status}")
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    with _service(args) as jobs:
        sys.stdout.write(jobs.log(args.instance_id, step=args.step, tail=args.tail))
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    with _service(args) as jobs:
        _print_json(jobs.statistics(**_query(args, ("start", "end"))))
    return 0


# --------------------------------------------------------------------------------------------
# --server URL --token T: the same commands through a running server (`localgene serve`)


def _server_args(p: argparse.ArgumentParser) -> None:
    env = Environment.read()
    p.add_argument("--server", default=env.server or None, metavar="URL",
                   help=f"talk to this server's API instead of the local store (env {ENV_SERVER}); "
                   "the token then decides the owner, not --owner")
    p.add_argument("--token", default=env.token or None,
                   help=f"X-Auth-Token for --server (env {ENV_TOKEN})")
