"""``localgene check job.json``: check a job body without running it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from localgene import plan as job_plan
from localgene import workflow


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check a job body (fields, option strings, inputs) without running it",
        description="Check a CNVkit job body as `run` and `submit` would, print the CNVkit "
        "arguments each step would get and the warnings, and exit non-zero if it is refused.",
    )
    p.add_argument("job", help="job body (JSON file, or - for standard input)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.set_defaults(func=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    from localgene.schema import parse_cnvkit_body

    body = workflow.load_body("/dev/stdin" if args.job == "-" else args.job)
    body = workflow.absolute_paths(body, Path.cwd())
    parse_cnvkit_body(body)
    plan = job_plan.build_plan(body, cores=args.cores)
    job_plan.check_environment(plan)
    job_plan.check_local_files(plan)
    json.dump(plan.to_json(), sys.stdout, indent=2)
    print()
    return 0
