"""``localgene run job.json``: one job (CNVkit or pipeline) in the foreground, with progress."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from localgene import settings as settings_mod
from localgene.cli.identity import add_identity
from localgene.cli.progress import ProgressBar
from localgene.cnvkit import plan as job_plan
from localgene.cnvkit import server_process
from localgene.cnvkit.plan import sample_name
from localgene.errors import WorkflowFailed
from localgene.jobs import service
from localgene.jobs.status import Status
from localgene.run import execution, runner, workflow
from localgene.run.signals import signal_name, stop_signals
from localgene.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run one job (CNVkit or pipeline) in the foreground",
        description="Run one job (a CNVkit or pipeline JSON body in the gene service's format) in the "
        "foreground: check it, record it in the job store, run the workflow with live progress "
        "and deliver the results to output_dir/<instance_id>/. Relative paths in the body are "
        "taken from the current folder. Ctrl-C cancels the job.",
    )
    p.add_argument("job", help="job body (JSON file, or - for standard input)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores Snakemake may use (default: all)")
    p.add_argument("--snakemake-arg", action="append", default=[], metavar="ARG",
                   help="extra argument passed to Snakemake (repeatable), e.g. --use-conda")
    execution.add_option(p)
    add_identity(p)
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    where = execution.resolve(args.executor)  # a bad setting fails before the job is recorded
    body = workflow.load_body("/dev/stdin" if args.job == "-" else args.job)
    body = workflow.absolute_paths(body, Path.cwd())
    # The CNVkit step server localgene.cli.main started (localgene.cnvkit.server_early) imports
    # CNVkit while the job is checked and recorded; main ends it if the job is refused. A job
    # whose steps use none lets it go at once.
    early = getattr(args, "early_server", None)
    if early is not None and ("job_type" in body or not server_process.uses_server(
            os.environ, local=where.is_local, snakemake_args=args.snakemake_arg)):
        early.discard()
        early = None
    if "job_type" not in body:
        job_plan.start_dnacopy_probe()  # the check of R (CBS) takes its answer
    cfg = settings_mod.load().ensure_dirs()
    store = Store.open(cfg)
    record = service.submit(store, body, project_id=args.project, owner=args.owner, settings=cfg)
    instance_id = record.instance_id
    store.claim(instance_id)  # this process runs it: no worker may take it
    print(f"instance_id: {instance_id}")
    print(f"job folder:  {cfg.job_dir(instance_id)}")
    for warning in record.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    bar = ProgressBar(sys.stderr)
    stopped_by = None
    with stop_signals() as received:  # Ctrl-C, SIGTERM (timeout, systemd), SIGHUP: cancel the job
        try:
            status = runner.execute_job(store, instance_id, cfg=cfg, cores=args.cores, on_progress=bar.update,
                                        extra_args=tuple(args.snakemake_arg), execution=where,
                                        on_staging=bar.staging, early_server=early)
        except KeyboardInterrupt as exc:
            stopped_by = signal_name(exc)
            status = store.find_existing(instance_id).status
        finally:
            bar.close()
    if received and stopped_by is None:
        stopped_by = signal.Signals(received[0]).name
    if not status.is_final:  # interrupted: every process of the job has exited by now
        if status is not Status.CANCELING:
            service.cancel(store, instance_id, project_id=args.project, owner=None)
        message = "cancelled from the terminal" if stopped_by in (None, "SIGINT") else f"cancelled: got {stopped_by}"
        store.transition(instance_id, Status.CANCELLED, message=message)
        print(f"cancelled: {instance_id}", file=sys.stderr)
        return 130
    record = store.find_existing(instance_id)
    if status is Status.FAILED:
        raise WorkflowFailed(record.message)
    print(f"finished: {record.progress} steps")
    print(f"results:  {cfg.job_dir(instance_id) / 'results'}")
    if "job_type" in body:
        print(f"delivered to: {body['output']} (see {cfg.job_dir(instance_id) / 'logs' / 'delivered.json'})")
        return 0
    print(f"delivered to: {body['output_dir'].rstrip('/')}/{instance_id}")
    for sample in map(sample_name, body["experimental_inputs"]):
        print(f"  {sample}: samples/{sample}.call.cns, plots/{sample}-scatter.png, plots/{sample}-diagram.png")
    return 0
