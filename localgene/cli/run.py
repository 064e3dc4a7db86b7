"""``localgene run job.json``: one CNVkit job in the foreground, with progress."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

from localgene import workflow
from localgene.delivery import destination
from localgene.cli.progress import ProgressBar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run one CNVkit job in the foreground",
        description="Run one CNVkit job (a JSON body in the gene service's format) in the "
        "foreground: check it, run the workflow with live progress, deliver the results to "
        "output_dir/<instance_id>/. Relative paths in the body are taken from the current folder.",
    )
    p.add_argument("job", help="job body (JSON file, or - for standard input)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores Snakemake may use (default: all)")
    p.add_argument("--job-dir", help="job folder (default: $LOCALGENE_HOME/jobs/<instance_id>)")
    p.add_argument("--snakemake-arg", action="append", default=[], metavar="ARG",
                   help="extra argument passed to Snakemake (repeatable), e.g. --use-conda")
    p.set_defaults(func=_cmd_run)


def _jobs_home() -> Path:
    from localgene.settings import load

    return load().jobs_dir


def _cmd_run(args: argparse.Namespace) -> int:
    body = workflow.load_body("/dev/stdin" if args.job == "-" else args.job)
    body = workflow.absolute_paths(body, Path.cwd())
    instance_id = str(uuid.uuid4())
    job_dir = Path(args.job_dir) if args.job_dir else _jobs_home() / instance_id
    plan = workflow.prepare_job(body, job_dir, instance_id=instance_id, cores=args.cores)
    print(f"instance_id: {instance_id}")
    print(f"job folder:  {job_dir}")
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    bar = ProgressBar(sys.stderr)
    try:
        result = workflow.run_workflow(job_dir, cores=args.cores, on_progress=bar.update,
                                       extra_args=args.snakemake_arg)
    finally:
        bar.close()
    print(f"finished: {result.done}/{result.total} steps")
    print(f"results:  {job_dir / 'results'}")
    print(f"delivered to: {destination(plan.output_dir, instance_id)}")
    for sample in plan.experimental:
        print(f"  {sample}: samples/{sample}.call.cns, plots/{sample}-scatter.png, plots/{sample}-diagram.png")
    return 0
