"""``localgene worker``: run queued jobs, supervise cancels, recover from crashes."""

from __future__ import annotations

import argparse
import logging

from localgene import settings as settings_mod
from localgene.jobs import service
from localgene.run import execution
from localgene.run.worker import Worker
from localgene.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "worker",
        help="run queued jobs (LAUNCHING) until stopped",
        description="Run queued jobs first come first served, SLOTS at a time (env LOCALGENE_SLOTS), "
        "each as its own process group; stop cancelled jobs; resume jobs whose process died, in their own folder, up to "
        "LOCALGENE_MAX_ATTEMPTS starts (then FAILED). "
        "Stop it with Ctrl-C or SIGTERM: running jobs go on and the next worker adopts them.",
    )
    p.add_argument("--slots", type=int, help="jobs at once (default: LOCALGENE_SLOTS or cores/2)")
    p.add_argument("--cores", type=int, help="cores per job (default: cores/slots)")
    p.add_argument("--until-idle", action="store_true", help="exit when no job is queued or running")
    p.add_argument("--snakemake-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for every job's Snakemake (repeatable)")
    execution.add_option(p)
    p.set_defaults(func=_cmd_worker)


def _cmd_worker(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = settings_mod.load().ensure_dirs()
    slots = args.slots or cfg.slots
    cores = args.cores or service.default_cores(slots)
    where = execution.resolve(args.executor).for_worker()  # the cluster probed once, for every job
    worker = Worker(Store.open(cfg), cfg, slots=slots, cores=cores, extra_args=tuple(args.snakemake_arg),
                    execution=where)
    logging.getLogger("localgene.run.runner").info("worker %s: %d slot(s), %d core(s) per job, executor %s",
                                               worker.name, slots, cores, where.executor)
    if where.is_slurm:
        from localgene.run import slurm

        logging.getLogger("localgene.run.runner").info(
            "SLURM: %s", "; ".join(f"{k}={v}" for k, v in vars(where.facts).items()) if where.facts
            else "not answering now (each job asks again): " + slurm.probe().problem)
    worker.run(until_idle=args.until_idle)
    return 0
