"""Latency of listing pages and statistics with a large job store.

Fills a temporary store (or ``--db PATH``) with ``--jobs`` jobs (default 100,000) spread over
three projects (80/15/5 %), 50 users, all six states and all four kinds, then times, through the
public :class:`localgene.store.Store` API (records included), repeated calls of:

* a first page, a deep page (the last one) and a time-filtered page of the CNVkit listing;
* a first page of the pipeline listing filtered by owner;
* statistics for the tenant administrator, for one user, and for a 30-day window.

Run:  .venv/bin/python benchmarks/store.py [--jobs 100000] [--repeat 200] [--db PATH]
"""

from __future__ import annotations

import argparse
import random
import statistics as stats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localgene.jobs.bodies import KINDS, PIPELINE_KINDS, SERVICE_EXAMPLE_BODY, new_record  # noqa: E402
from localgene.jobs.status import FINAL, Status  # noqa: E402
from localgene.store import Store  # noqa: E402

DAY_MS = 86_400_000
CNVKIT_BODY = SERVICE_EXAMPLE_BODY
PIPELINE_BODY = {
    "input": ["s3a://genes/wgs/S1_R1.fastq.gz", "s3a://genes/wgs/S1_R2.fastq.gz"],
    "output": "s3a://genes/wgs/out/S1.vcf",
    "file_type": "FASTQ",
    "ref": "hg38",
    "knownsites": ["dbsnp_146.hg38.vcf", "Mills_and_1000G_gold_standard.indels.hg38.vcf"],
}
STATES = [
    (Status.FINISHED, 60),
    (Status.FAILED, 20),
    (Status.CANCELLED, 5),
    (Status.RUNNING, 5),
    (Status.LAUNCHING, 8),
    (Status.CANCELING, 2),
]


def fill(store: Store, n: int, now: int, rng: random.Random) -> None:
    projects = rng.choices(["p0", "p1", "p2"], weights=[80, 15, 5], k=n)
    users = [f"user{i:02d}" for i in range(50)]
    states = [s for s, _ in STATES]
    weights = [w for _, w in STATES]
    batch = []
    for i in range(n):
        kind = KINDS[0] if rng.random() < 0.5 else rng.choice(PIPELINE_KINDS)
        body = CNVKIT_BODY if kind == "cnvkit" else {"job_type": kind, **PIPELINE_BODY}
        start = now - rng.randrange(365 * DAY_MS)
        rec = new_record(
            projects[i],
            rng.choice(users),
            kind,
            body,
            input_size=rng.randrange(10**10),
            start_time=start,
        )
        status = rng.choices(states, weights)[0]
        rec.status = status
        if status in FINAL:
            rec.end_time = start + rng.randrange(10 * 3_600_000)
        batch.append(rec)
        if len(batch) == 10_000:
            store.submit_many(batch)
            batch = []
    if batch:
        store.submit_many(batch)


def timed(fn, repeat: int) -> tuple[float, float, object]:
    fn()  # warm up (page cache, statement cache)
    samples = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
    return stats.median(samples), p99, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--db", help="database file to fill (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)

    tmp = None
    if args.db:
        db = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="localgene-bench-")
        db = Path(tmp.name) / "localgene.db"
    store = Store(db)
    rng = random.Random(args.seed)
    now = int(time.time() * 1000)

    t0 = time.perf_counter()
    fill(store, args.jobs, now, rng)
    fill_s = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 1e6
    cnvkit_total = store.list_jobs("p0", "cnvkit")[0]
    print(f"filled {args.jobs} jobs in {fill_s:.1f} s; database {size_mb:.0f} MB ({db})")
    print(f"project p0: {cnvkit_total} CNVkit jobs; timings over {args.repeat} calls each\n")

    cases = [
        ("list cnvkit, first page (limit 10)", lambda: store.list_jobs("p0", "cnvkit")),
        (
            f"list cnvkit, last page (offset {cnvkit_total - 10})",
            lambda: store.list_jobs("p0", "cnvkit", limit=10, offset=cnvkit_total - 10),
        ),
        (
            "list cnvkit, 30-day window, limit 100, offset 100",
            lambda: store.list_jobs(
                "p0", "cnvkit", limit=100, offset=100, start=now - 60 * DAY_MS, end=now - 30 * DAY_MS
            ),
        ),
        (
            "list pipeline jobs of one user, first page",
            lambda: store.list_jobs("p0", PIPELINE_KINDS, owner="user07"),
        ),
        ("statistics, administrator (all users)", lambda: store.statistics("p0")),
        ("statistics, one user", lambda: store.statistics("p0", owner="user07")),
        (
            "statistics, 30-day window",
            lambda: store.statistics("p0", start=now - 30 * DAY_MS, end=now),
        ),
    ]
    print(f"{'query':<52} {'median ms':>10} {'p99 ms':>8}  result")
    for name, fn in cases:
        median, p99, result = timed(fn, args.repeat)
        if isinstance(result, tuple):
            shown = f"count={result[0]}, page={len(result[1])}"
        else:
            shown = f"users={result['total_user_num']}, finished={result['total_finished_num']}"
        print(f"{name:<52} {median:>10.2f} {p99:>8.2f}  {shown}")

    print("\nquery plan of a CNVkit page:")
    for line in store.explain_list("p0", "cnvkit", offset=1000):
        print("   ", line)
    store.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
