"""``localgene check job.json``: check a job body without running it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from localgene.run import execution, workflow


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check a job body (fields, option strings, inputs) without running it",
        description="Check a CNVkit job body as `run` and `submit` would, print the CNVkit "
        "arguments each step would get and the warnings, and exit non-zero if it is refused. "
        "With --executor slurm, also ask the cluster what it offers and print, under "
        "\"execution\", what was found and chosen and the resources each step will ask for "
        "(nothing is submitted).",
    )
    p.add_argument("job", help="job body (JSON file, or - for standard input)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    execution.add_option(p)
    p.set_defaults(func=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    from localgene import settings
    from localgene.jobs.checks import check_job

    where = execution.resolve(args.executor) if args.executor else execution.Execution()
    body = workflow.load_body("/dev/stdin" if args.job == "-" else args.job)
    body = workflow.absolute_paths(body, Path.cwd())
    plan = check_job(body, settings.load(), stage="check", cores=args.cores, kind="cnvkit").plan
    assert plan is not None
    out = plan.to_json()
    if not where.is_local:
        report: dict = {"executor": where.executor, "site_profile": str(where.site_profile or "") or None}
        profile = where.profile()
        if where.is_slurm:
            facts, choice = where.cluster()  # fails (exit 1, one line) when SLURM does not answer
            report["cluster"] = asdict(facts)
            report["chosen"] = choice.line.removeprefix("localgene: SLURM: ")
            profile = choice.profile
        report["steps"] = execution.step_requests(where, plan, args.cores, profile)
        out["execution"] = report
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0
