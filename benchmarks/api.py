"""Load client for ``localgene serve`` on loopback, with 100,000 jobs in the store.

Fills a fresh store (in a temporary LOCALGENE_HOME) directly with ``Store.submit_many`` of
``schema.new_record(...)`` records — CNVkit and pipeline jobs of 20 users over 30 days, in every
state — starts ``localgene serve`` as a real process on a free loopback port, and measures over
HTTP, each phase bounded in time and in count:

* submit throughput: CNVkit jobs POSTed by ``--clients`` concurrent clients (each submission is
  fully checked — body, option strings with CNVkit's parsers, input files — and committed with
  ``synchronous=FULL`` before the 201);
* listing latency (median, p99): the first page, a deep page, a time window, one job by
  ``instance-id``, an ordinary user's own jobs, the pipeline listing;
* statistics latency: the tenant administrator's (every user) and an ordinary user's.

No worker runs: submitted jobs stay LAUNCHING. Usage::

    .venv/bin/python benchmarks/api.py                 # 100,000 jobs, ~10 s per phase
    .venv/bin/python benchmarks/api.py --jobs 20000 --seconds 3 --clients 2
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from localgene import settings as settings_mod
from localgene.api import users as users_mod
from localgene.jobs.bodies import PIPELINE_KINDS, new_record
from localgene.jobs.status import Status
from localgene.store import Store

PROJECT = "bench"
USERS = [f"user{i:02d}" for i in range(20)]
DAY_MS = 86_400_000


def fill(store: Store, n: int, inputs: Path, seed: int = 1) -> None:
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    body = submit_body(inputs)
    germline = {"job_type": "DNA_GERMLINE", "input": ["/d/s.bam"], "output": "/d/o.vcf", "file_type": "BAM",
                "ref": "hg38", "knownsites": ["dbsnp.vcf"]}
    finals = [Status.FINISHED] * 14 + [Status.FAILED] * 3 + [Status.CANCELLED] * 2 + [Status.RUNNING]
    batch = []
    for _i in range(n):
        pipeline = rng.random() < 0.1
        kind = rng.choice(PIPELINE_KINDS) if pipeline else "cnvkit"
        request = {**germline, "job_type": kind} if pipeline else body
        rec = new_record(PROJECT, rng.choice(USERS), kind, request, input_size=rng.randrange(10**6, 10**10),
                         start_time=now - rng.randrange(30 * DAY_MS))
        status = rng.choice(finals)
        rec.status = status
        if status is not Status.RUNNING:
            rec.end_time = rec.start_time + rng.randrange(60_000, 7_200_000)
            rec.progress = "38/38" if status is Status.FINISHED else "12/38"
        batch.append(rec)
        if len(batch) == 10_000:
            store.submit_many(batch)
            batch.clear()
    if batch:
        store.submit_many(batch)


def submit_body(inputs: Path) -> dict:
    return {
        "experimental_inputs": [str(inputs / "T1.bam")],
        "control_inputs": [str(inputs / "N1.bam"), str(inputs / "N2.bam")],
        "output_dir": str(inputs / "output"),
        "ref": str(inputs / "genome.fa"),
        "bed": str(inputs / "targets.bed"),
        "target_conf": "--split",
        "coverage_conf": "-q 10",
        "segment_conf": "-m haar",
        "call_conf": "--center median",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(client: httpx.Client, method: str, url: str, seconds: float, count: int, **kw) -> list[float]:
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(times) < count:
        t0 = time.perf_counter()
        reply = client.request(method, url, **kw)
        times.append((time.perf_counter() - t0) * 1000)
        if reply.status_code >= 300:
            raise SystemExit(f"{method} {url}: HTTP {reply.status_code} {reply.text[:300]}")
    return times


def report(name: str, times: list[float]) -> None:
    print(f"  {name:44s} n={len(times):6d}  median {statistics.median(times):7.2f} ms  p99 {pct(times, 0.99):7.2f} ms",
          flush=True)


def submit_phase(base: str, token: str, body: dict, clients: int, seconds: float, count: int) -> None:
    times: list[float] = []
    lock = threading.Lock()
    stop = 0.0
    issued = [0]
    failures: list[str] = []

    def work() -> None:
        with httpx.Client(headers={"X-Auth-Token": token}, timeout=60) as client:
            while time.monotonic() < stop:
                with lock:
                    if issued[0] >= count:
                        return
                    issued[0] += 1
                t0 = time.perf_counter()
                reply = client.post(f"{base}/v2.0/{PROJECT}/gene/tools/cnvkit", json=body)
                elapsed = (time.perf_counter() - t0) * 1000
                if reply.status_code != 201:
                    failures.append(f"HTTP {reply.status_code} {reply.text[:200]}")
                    return
                with lock:
                    times.append(elapsed)

    # one warm-up submission (CNVkit's parsers are imported on the first one)
    with httpx.Client(headers={"X-Auth-Token": token}, timeout=60) as client:
        client.post(f"{base}/v2.0/{PROJECT}/gene/tools/cnvkit", json=body).raise_for_status()
    stop = time.monotonic() + seconds
    t0 = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"submit failed: {failures[0]}")
    print(f"  submit: {len(times)} jobs in {wall:.1f} s with {clients} clients = {len(times) / wall:.1f} jobs/s",
          flush=True)
    report("submit latency", times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=100_000, help="jobs stored before measuring (default 100000)")
    ap.add_argument("--seconds", type=float, default=10.0, help="time bound of each phase (default 10)")
    ap.add_argument("--count", type=int, default=2000, help="request bound of each phase (default 2000)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent submitting clients (default 4)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary LOCALGENE_HOME")
    args = ap.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="localgene-bench-api-"))
    home = root / "home"
    cfg = settings_mod.load({"LOCALGENE_HOME": str(home)}).ensure_dirs()
    inputs = root / "inputs"
    inputs.mkdir()
    for name in ("T1.bam", "N1.bam", "N2.bam", "genome.fa", "targets.bed"):
        (inputs / name).write_bytes(b"x" * 1024)
    users_path = cfg.home / "users.yaml"
    _, admin = users_mod.add_user(users_path, "admin", tenant="bench", role="admin", projects=[PROJECT])
    _, user = users_mod.add_user(users_path, USERS[0], tenant="bench", role="user", projects=[PROJECT])

    t0 = time.perf_counter()
    store = Store.open(cfg)
    fill(store, args.jobs, inputs)
    store.close()
    print(f"filled the store with {args.jobs} jobs in {time.perf_counter() - t0:.1f} s ({cfg.db_path})", flush=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LOCALGENE_HOME": str(home)}
    env.pop("LOCALGENE_USERS", None)
    server = subprocess.Popen([sys.executable, "-m", "localgene", "serve", "--port", str(port), "--log-level",
                               "warning"], env=env, stdout=subprocess.DEVNULL, stderr=open(root / "serve.log", "wb"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start:\n" + (root / "serve.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        cpus = settings_mod.cpu_count()
        print(f"localgene serve on {base} (one uvicorn process; {cpus} CPUs); phases bounded to "
              f"{args.seconds:g} s / {args.count} requests", flush=True)

        body = submit_body(inputs)
        submit_phase(base, admin, body, args.clients, args.seconds, args.count)

        gene = f"{base}/v2.0/{PROJECT}/gene"
        now = int(time.time() * 1000)
        with httpx.Client(headers={"X-Auth-Token": admin}, timeout=60) as a, \
                httpx.Client(headers={"X-Auth-Token": user}, timeout=60) as u:
            total = a.get(f"{gene}/tools/cnvkit", params={"limit": 1}).json()["count"]
            some = a.get(f"{gene}/tools/cnvkit", params={"limit": 1, "offset": total // 2}).json()["instances"][0]
            print(f"  ({total} CNVkit jobs in the project)", flush=True)
            s, n = args.seconds, args.count
            report("list: first page (limit 10)", timed(a, "GET", f"{gene}/tools/cnvkit", s, n))
            report("list: first page (limit 100)", timed(a, "GET", f"{gene}/tools/cnvkit", s, n,
                                                         params={"limit": 100}))
            report(f"list: deep page (offset {total // 2})", timed(a, "GET", f"{gene}/tools/cnvkit", s, n,
                                                                   params={"offset": total // 2}))
            report("list: last 7 days (start/end)", timed(a, "GET", f"{gene}/tools/cnvkit", s, n,
                                                         params={"start": now - 7 * DAY_MS, "end": now}))
            report("list: one job (instance-id)", timed(a, "GET", f"{gene}/tools/cnvkit", s, n,
                                                       params={"instance-id": some["instance_id"]}))
            report("list: ordinary user's own jobs", timed(u, "GET", f"{gene}/tools/cnvkit", s, n))
            report("list: pipeline jobs (job_type)", timed(a, "GET", f"{gene}/jobs", s, n,
                                                          params={"job_type": "DNA_SOMATIC"}))
            report("statistics: tenant admin (every user)", timed(a, "GET", f"{gene}/statistics", s, n))
            report("statistics: ordinary user", timed(u, "GET", f"{gene}/statistics", s, n))
            report("statistics: admin, last 7 days", timed(a, "GET", f"{gene}/statistics", s, n,
                                                          params={"start": now - 7 * DAY_MS}))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
