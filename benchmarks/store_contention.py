"""Write latency of the job store under contention: the writers' lock against SQLite alone.

One process rewrites a job's progress in a tight loop (the worst a runner could do) while
``--threads`` threads of this process submit jobs for ``--seconds`` seconds. Run twice, on fresh
stores: with :class:`localgene.store.Store` (write transactions queue on an ``flock`` of
``<db>.writers``) and with the baseline, the same store whose writes rely on SQLite's busy
handler alone (``BEGIN IMMEDIATE`` polled up to every 100 ms). ``--busy-timeout`` is shortened
(default 5 s) so that starvation shows as failures ("database is locked") within a short run.
Prints submissions done, failures, and the median / p99 / max latency of a submission, and the
ratios baseline / localgene.

Run:  .venv/bin/python benchmarks/store_contention.py [--seconds 20] [--threads 8] [--busy-timeout 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localgene.jobs.bodies import new_record  # noqa: E402
from localgene.jobs.status import Status  # noqa: E402
from localgene.store import Store  # noqa: E402

BODY = {"experimental_inputs": ["/x/T.bam"], "control_inputs": ["/x/N.bam"], "output_dir": "/x/o",
        "ref": "/x/g.fa", "bed": "/x/t.bed"}

HAMMER = """
import sys
from localgene.store import Store
store = Store(sys.argv[1], timeout=float(sys.argv[3]))
n = 0
while True:
    n = (n + 1) % 1000
    try:
        store.set_progress(sys.argv[2], n, 1000)
    except Exception:
        pass
"""


class SqliteOnlyStore(Store):
    """The baseline: write transactions wait on SQLite's busy handler only."""

    @contextmanager
    def _write(self):
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def run(store_class, seconds: float, threads: int, busy: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "localgene.db"
        store = store_class(db, timeout=busy)
        hammered = store.submit(new_record("p", "u", "cnvkit", BODY))
        store.transition(hammered.instance_id, Status.RUNNING)
        root = str(Path(__file__).resolve().parent.parent)
        hammer_code = HAMMER if store_class is Store else HAMMER.replace(
            "from localgene.store import Store",
            "import sys; sys.path.insert(0, %r); from store_contention import SqliteOnlyStore as Store"
            % str(Path(__file__).resolve().parent))
        hammer = subprocess.Popen([sys.executable, "-c", hammer_code, str(db), hammered.instance_id, str(busy)],
                                  env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"})
        time.sleep(1.0)  # the hammer is writing
        latencies: list[float] = []
        failures = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def submitter() -> None:
            local = store_class(db, timeout=busy)
            while time.monotonic() < deadline:
                t = time.perf_counter()
                try:
                    local.submit(new_record("p", "u", "cnvkit", BODY))
                    ok = True
                except Exception as exc:  # noqa: BLE001 - "database is locked" is what we count
                    ok = False
                    if not isinstance(exc, sqlite3.OperationalError) and "locked" not in str(exc):
                        raise
                with lock:
                    if ok:
                        latencies.append(time.perf_counter() - t)
                    else:
                        failures[0] += 1

        pool = [threading.Thread(target=submitter) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        hammer.kill()
        hammer.wait()
    latencies.sort()
    pick = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]) if latencies else (lambda q: float("nan"))
    return {"done": len(latencies), "failed": failures[0], "median": statistics.median(latencies) if latencies else float("nan"),
            "p99": pick(0.99), "max": latencies[-1] if latencies else float("nan")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--busy-timeout", type=float, default=5.0)
    args = ap.parse_args()
    rows = {
        "localgene (writers' flock)": run(Store, args.seconds, args.threads, args.busy_timeout),
        "baseline (SQLite busy handler only)": run(SqliteOnlyStore, args.seconds, args.threads, args.busy_timeout),
    }
    print(f"{args.threads} submitting threads for {args.seconds:.0f} s against one process writing non-stop; "
          f"busy_timeout {args.busy_timeout:.0f} s")
    print(f"{'store':38} {'submitted':>9} {'failed':>7} {'median ms':>10} {'p99 ms':>9} {'max ms':>9}")
    for name, r in rows.items():
        print(f"{name:38} {r['done']:>9} {r['failed']:>7} {r['median'] * 1e3:>10.1f} {r['p99'] * 1e3:>9.1f} "
              f"{r['max'] * 1e3:>9.1f}")
    ours, base = rows["localgene (writers' flock)"], rows["baseline (SQLite busy handler only)"]
    print(f"ratio baseline/localgene: submitted {base['done'] / max(1, ours['done']):.2f}, "
          f"p99 latency {base['p99'] / ours['p99']:.1f}x, max latency {base['max'] / ours['max']:.1f}x; "
          f"failures {base['failed']} vs {ours['failed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
