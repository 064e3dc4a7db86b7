"""Job commands on the local store: submit, list, show, cancel, retry, logs, stats."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from localgene import settings as settings_mod
from localgene.cli.identity import add_identity
from localgene.client import ENV_SERVER, ENV_TOKEN
from localgene.errors import InvalidRequest, JobNotFound
from localgene.jobs import samplesheet, service
from localgene.jobs.bodies import (
    CNVKIT_KIND,
    PIPELINE_KINDS,
    cnvkit_instance_item,
    cnvkit_listing,
    pipeline_job_item,
    pipeline_listing,
)
from localgene.run import workflow
from localgene.settings import Environment
from localgene.store import Store, parse_paging, parse_time_range


def _store() -> tuple[Store, settings_mod.Settings]:
    cfg = settings_mod.load().ensure_dirs()
    return Store.open(cfg), cfg


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


def _cmd_submit(args: argparse.Namespace) -> int:
    if args.server:
        return _remote_submit(args)
    store, cfg = _store()
    items = _batch(args)
    # All or nothing: every job is checked before any is recorded (one transaction).
    records = samplesheet.submit_batch(store, items, project_id=args.project, owner=args.owner,
                                       base_name=args.base, settings=cfg)
    for item, record in zip(items, records):
        for warning in record.warnings:
            print(f"warning: {item.origin}: {warning}", file=sys.stderr)
        print(record.instance_id)
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
    if args.server:
        return _remote_list(args)
    store, _ = _store()
    paging = parse_paging(_query(args))
    ids = _read_ids(args.ids) if args.ids else None
    if ids is not None and not args.table:
        total, records = store.list_jobs(args.project, kinds=args.job_type or CNVKIT_KIND,
                                         instance_id=args.instance_id, instance_ids=ids, **paging.kwargs())
        _print_json((pipeline_listing if args.job_type else cnvkit_listing)(total, records))
        return 0
    if not args.table:
        if args.job_type:
            listing = service.list_pipeline(store, project_id=args.project, owner=None, paging=paging,
                                            job_type=args.job_type)
        else:
            listing = service.list_cnvkit(store, project_id=args.project, owner=None, paging=paging,
                                          instance_id=args.instance_id)
        _print_json(listing)
        return 0
    total, records = store.list_jobs(args.project, kinds=args.job_type or "cnvkit",
                                     instance_id=args.instance_id, instance_ids=ids, **paging.kwargs())
    _print_table(((r.instance_id, r.status.value, r.progress, r.duration, r.owner) for r in records), total)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    if args.server:
        return _remote_show(args)
    store, cfg = _store()
    record = store.get(args.project, args.instance_id)
    if record.kind in PIPELINE_KINDS:
        item = pipeline_job_item(record)
    else:
        item = cnvkit_instance_item(record)
        item.update(progress=record.progress)
    item.update(warnings=record.warnings, input_size=record.input_size,
                job_dir=str(cfg.job_dir(record.instance_id)))
    _print_json(item)
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    if args.server:
        return _remote_cancel(args)
    store, _ = _store()
    record = service.cancel(store, args.instance_id, project_id=args.project, owner=None)
    print(f"{record.instance_id}: {record.status}")
    return 0


def _cmd_retry(args: argparse.Namespace) -> int:
    if args.server:
        with _client(args) as api:
            kind, _ = _remote_kind(api, args.instance_id)
            if kind == "cnvkit":
                api.retry_cnvkit(args.instance_id)
                status = api.get_cnvkit(args.instance_id)["status"]
            else:
                api.retry_job(args.instance_id)
                status = api.get_job(args.instance_id)["status"]
        print(f"{args.instance_id}: {status}")
        return 0
    store, _ = _store()
    record = service.retry(store, args.instance_id, project_id=args.project, owner=None)
    print(f"{record.instance_id}: {record.status}")
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    if args.server:
        return _remote_logs(args)
    store, cfg = _store()
    record = store.get(args.project, args.instance_id)
    sys.stdout.write(service.log_text(cfg.job_dir(record.instance_id), args.step, args.tail))
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    if args.server:
        return _remote_stats(args)
    store, _ = _store()
    start, end = parse_time_range(_query(args, ("start", "end")))
    _print_json(store.statistics(args.project, start=start, end=end))
    return 0


# --------------------------------------------------------------------------------------------
# The same commands through a running server (`localgene serve`), with --server URL --token T


def _server_args(p: argparse.ArgumentParser) -> None:
    env = Environment.read()
    p.add_argument("--server", default=env.server or None, metavar="URL",
                   help=f"talk to this server's API instead of the local store (env {ENV_SERVER}); "
                   "the token then decides the owner, not --owner")
    p.add_argument("--token", default=env.token or None,
                   help=f"X-Auth-Token for --server (env {ENV_TOKEN})")


def _client(args: argparse.Namespace):
    from localgene.client import Client

    return Client(args.server, args.token, project_id=args.project)


def _remote_submit(args: argparse.Namespace) -> int:
    # The API takes one job per request: the server checks each; a refusal stops the batch
    # but does not withdraw the jobs already accepted (those ids are printed first).
    items = _batch(args)
    with _client(args) as api:
        for item in items:
            path, body = item.origin, item.body
            if "job_type" in body:
                print(api.submit_pipeline(body))
                continue
            instance_id = api.submit_cnvkit(body)
            for warning in api.get_cnvkit(instance_id).get("warnings", []):
                print(f"warning: {path}: {warning}", file=sys.stderr)
            print(instance_id)
    return 0


def _remote_list(args: argparse.Namespace) -> int:
    paging = _query(args)
    if args.ids:
        return _remote_list_ids(args, _read_ids(args.ids))
    with _client(args) as api:
        if args.job_type:
            listing = api.list_pipeline(job_type=args.job_type, **paging)
            items, total, key = listing["jobs"], listing["job_count"], "job_id"
        else:
            listing = api.list_cnvkit(instance_id=args.instance_id, **paging)
            items, total, key = listing["instances"], listing["count"], "instance_id"
    if not args.table:
        _print_json(listing)
        return 0
    _print_table(((i[key], i["status"], i.get("progress", "-"), i["duration"], i["owner"]) for i in items), total)
    return 0


def _remote_list_ids(args: argparse.Namespace, ids: list[str]) -> int:
    """--ids through the API: one listing request per id (the API filters on one id)."""
    if args.job_type:
        raise InvalidRequest("--ids with --server lists CNVkit jobs only", field="--job-type")
    items = []
    with _client(args) as api:
        for instance_id in ids:
            items += api.list_cnvkit(instance_id=instance_id)["instances"]
    if not args.table:
        _print_json({"count": len(items), "instances": items})
        return 0
    _print_table(((i["instance_id"], i["status"], i.get("progress", "-"), i["duration"], i["owner"])
                  for i in items), len(items))
    return 0


def _remote_kind(api, job_id: str) -> tuple[str, dict]:
    """``("cnvkit" or "pipeline", the job's item)``: the API keeps the two kinds apart, so a
    job unknown as a CNVkit job is looked up as a pipeline job."""
    try:
        return "cnvkit", api.get_cnvkit(job_id)
    except JobNotFound:
        return "pipeline", api.get_job(job_id)


def _remote_show(args: argparse.Namespace) -> int:
    with _client(args) as api:
        _print_json(_remote_kind(api, args.instance_id)[1])
    return 0


def _remote_cancel(args: argparse.Namespace) -> int:
    with _client(args) as api:
        kind, _ = _remote_kind(api, args.instance_id)
        if kind == "cnvkit":
            api.cancel_cnvkit(args.instance_id)
        else:
            api.cancel_job(args.instance_id)
        status = _remote_kind(api, args.instance_id)[1]["status"]
    print(f"{args.instance_id}: {status}")
    return 0


def _remote_logs(args: argparse.Namespace) -> int:
    with _client(args) as api:
        kind, _ = _remote_kind(api, args.instance_id)
        log = api.log_cnvkit if kind == "cnvkit" else api.log_job
        sys.stdout.write(log(args.instance_id, step=args.step, tail=args.tail)["log"])
    return 0


def _remote_stats(args: argparse.Namespace) -> int:
    with _client(args) as api:
        _print_json(api.statistics(**_query(args, ("start", "end"))))
    return 0
