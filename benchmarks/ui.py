"""The job browser's listing against the gene API's, on a store of many jobs.

Fills a fresh store (temporary LOCALGENE_HOME, ``benchmarks/api.py``'s ``fill``: CNVkit and
pipeline jobs of 20 users over 30 days, in every state) and times, in process through FastAPI's
TestClient, each request ``--repeat`` times (median):

* baseline: the API's CNVkit listing (``GET /v2.0/{p}/gene/tools/cnvkit``), first page;
* the browser's listing without a state filter (the same store query);
* the browser's listing filtered by state, for a common state (FINISHED) and a rare one
  (RUNNING): answered from the listing indexes with the state in them (store migration 3;
  before it, the store walked the unfiltered index and checked each job's state);

for the tenant administrator (every user's jobs) and an ordinary user (their own). Prints the
figures and each one's ratio to the baseline; then the state-filtered ones again as they ran
before migration 3 (the same store and load: the filter checked on the unfiltered index, which
is what ``localgene.store.records`` chose when ``_STATUS_INDEX`` did not exist). Usage::

    .venv/bin/python benchmarks/ui.py                  # 20,000 jobs
    .venv/bin/python benchmarks/ui.py --jobs 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import PROJECT, USERS, fill  # noqa: E402

from localgene import settings as settings_mod  # noqa: E402
from localgene.api import users as users_mod  # noqa: E402
from localgene.api.app import ApiSettings, create_app  # noqa: E402
from localgene.store import Store  # noqa: E402
from localgene.store import schema as store_mod  # noqa: E402

FILTERED = (("browser, state FINISHED", "type=CNVKIT&status=FINISHED"),
            ("browser, state RUNNING", "type=CNVKIT&status=RUNNING"),
            ("browser, all types, state FAILED", "status=FAILED"))


def timed(client: TestClient, url: str, token: str, repeat: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        reply = client.get(url, headers={"X-Auth-Token": token})
        times.append(time.perf_counter() - t0)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        count = body.get("count", 0)
    return statistics.median(times), count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="lg-bench-ui-"))
    try:
        home = tmp / "home"
        cfg = settings_mod.load({"LOCALGENE_HOME": str(home)}).ensure_dirs()
        inputs = tmp / "inputs"
        inputs.mkdir()
        for name in ("T1.bam", "N1.bam", "N2.bam", "genome.fa", "targets.bed", "refFlat.txt"):
            (inputs / name).write_bytes(b"x")
        t0 = time.perf_counter()
        fill(Store.open(cfg), args.jobs, inputs)
        print(f"store: {args.jobs:,} jobs filled in {time.perf_counter() - t0:.1f} s")
        users_path = home / "users.yaml"
        _, admin = users_mod.add_user(users_path, "boss", tenant="t", role="admin", projects=[PROJECT])
        _, user = users_mod.add_user(users_path, USERS[0], tenant="t", role="user", projects=[PROJECT])
        with TestClient(create_app(ApiSettings(cfg, users_path=users_path))) as client:
            for who, token in (("administrator", admin), (f"user {USERS[0]}", user)):
                base, _ = timed(client, f"/v2.0/{PROJECT}/gene/tools/cnvkit?limit=10", token, args.repeat)
                print(f"\n{who}:")
                print(f"  {'API listing (baseline)':<46} {base * 1000:8.1f} ms")
                for label, query in (("browser listing", "type=CNVKIT"), *FILTERED):
                    t, n = timed(client, f"/ui/api/{PROJECT}/jobs?limit=10&{query}", token, args.repeat)
                    print(f"  {label:<46} {t * 1000:8.1f} ms  x{t / base:6.1f}  ({n:,} match)")
                saved = dict(store_mod._STATUS_INDEX)
                store_mod._STATUS_INDEX.update({k: k for k in saved})  # as before migration 3: the unfiltered index
                try:
                    for label, query in FILTERED:
                        t, n = timed(client, f"/ui/api/{PROJECT}/jobs?limit=10&{query}", token, args.repeat)
                        print(f"  {label + ' (before)':<46} {t * 1000:8.1f} ms  x{t / base:6.1f}  ({n:,} match)")
                finally:
                    store_mod._STATUS_INDEX.update(saved)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
