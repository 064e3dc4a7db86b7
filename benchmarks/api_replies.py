"""What the HTTP plumbing costs on a read: a route (query model, owner-scoped query, response
model, JSON) against the same service call encoded by hand, in one process.

Fills a fresh store (temporary LOCALGENE_HOME, single local user) with ``--jobs`` CNVkit jobs,
then times, ``--repeat`` times each, through FastAPI's TestClient:

* ``GET .../gene/tools/cnvkit?limit=100`` against ``json.dumps(jobs.list_cnvkit(...))``;
* ``GET .../gene/tools/cnvkit/{id}`` against ``json.dumps(cnvkit_instance_item(jobs.get(...)))``;
* ``GET .../gene/statistics`` against ``json.dumps(jobs.statistics(...))``.

Prints the medians and the ratio route / by hand. Usage::

    .venv/bin/python benchmarks/api_replies.py --jobs 300 --repeat 300
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any, Callable


def _median_ms(call: Callable[[], Any], repeat: int) -> float:
    call()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=300, help="jobs stored before measuring (default 300)")
    ap.add_argument("--repeat", type=int, default=300, help="requests per measurement (default 300)")
    args = ap.parse_args()
    os.environ["LOCALGENE_HOME"] = tempfile.mkdtemp(prefix="localgene-bench-replies-")

    from fastapi.testclient import TestClient

    from localgene.api.app import create_app
    from localgene.jobs import service as jobs
    from localgene.jobs.bodies import cnvkit_instance_item, new_record
    from localgene.store import parse_paging

    app = create_app()
    store, owner = app.state.api.store, app.state.api.local_user.name
    body = {"experimental_inputs": ["/data/T1.bam"], "control_inputs": ["/data/N1.bam"], "output_dir": "/out",
            "ref": "/data/g.fa", "bed": "/data/t.bed", "has_annotate": False}
    records = [new_record("p1", owner, "cnvkit", dict(body)) for _ in range(args.jobs)]
    store.submit_many(records)
    one = records[0].instance_id
    client = TestClient(app)

    def route(url: str) -> Callable[[], Any]:
        def call() -> None:
            reply = client.get(url)
            assert reply.status_code == 200, reply.text
        return call

    base = "/v2.0/p1/gene"
    cases = [
        ("listing, 100 jobs", route(f"{base}/tools/cnvkit?limit=100"),
         lambda: json.dumps(jobs.list_cnvkit(store, project_id="p1", owner=None,
                                             paging=parse_paging({"limit": "100"})))),
        ("one job", route(f"{base}/tools/cnvkit/{one}"),
         lambda: json.dumps(cnvkit_instance_item(jobs.get(store, one, project_id="p1", owner=None)))),
        ("statistics", route(f"{base}/statistics"),
         lambda: json.dumps(jobs.statistics(store, project_id="p1", owner=None))),
    ]
    print(f"{args.jobs} jobs stored; medians of {args.repeat} calls (2 CPUs: {os.getloadavg()[0]:.1f} load)")
    print(f"{'':20} {'route ms':>9} {'by hand ms':>11} {'ratio':>6}")
    for name, http_call, direct in cases:
        over_http = _median_ms(http_call, args.repeat)
        by_hand = _median_ms(direct, args.repeat)
        print(f"{name:20} {over_http:9.2f} {by_hand:11.2f} {over_http / by_hand:6.2f}")


if __name__ == "__main__":
    main()
