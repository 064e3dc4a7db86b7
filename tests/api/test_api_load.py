"""500 submissions at once while a worker runs jobs and another process keeps writing to the
store: every one is recorded, none answers with a database error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from localgene.jobs.bodies import new_record
from localgene.jobs.status import Status

pytestmark = pytest.mark.slow

SUBMISSIONS = 500

#: A process that moves a job's progress as fast as it can (the writes of a busy runner).
HAMMER = """
import sys, time
from localgene.store import Store
store = Store(sys.argv[1])
instance_id = sys.argv[2]
n = 0
while True:
    n = (n + 1) % 1000
    store.set_progress(instance_id, n, 1000)
"""


@pytest.fixture
def busy_store(env):
    """A real worker running whatever is queued, plus a process writing progress non-stop."""
    store = env.store()
    hammered = new_record("p2", "alice", "cnvkit", {"experimental_inputs": ["/x/T.bam"],
                          "control_inputs": ["/x/N.bam"], "output_dir": "/x/o", "ref": "/x/g.fa", "bed": "/x/t.bed"})
    store.submit(hammered)
    assert store.claim(hammered.instance_id, pid=os.getpid())
    store.transition(hammered.instance_id, Status.RUNNING)
    child_env = dict(os.environ, LOCALGENE_HOME=str(env.home), LOCALGENE_SLOTS="1")
    hammer = subprocess.Popen([sys.executable, "-c", HAMMER, str(env.cfg.db_path), hammered.instance_id],
                              env=child_env)
    log = open(env.home / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "localgene", "worker", "--cores", "1"], env=child_env,
                              stdout=log, stderr=subprocess.STDOUT)
    yield store
    for proc in (hammer, worker):
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    for job in store.active_jobs():  # the job processes the worker left running
        if job.runner_pid and job.runner_pid != os.getpid():
            try:
                os.killpg(job.runner_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    log.close()


def test_500_concurrent_submissions_are_all_recorded_while_a_worker_runs(live, env, busy_store):
    url = f"{live.url}/v2.0/p1/gene/tools/cnvkit"
    headers = env.headers("alice")

    def submit(i: int) -> httpx.Response:
        return httpx.post(url, json=env.body(), headers=headers, timeout=300)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(submit, range(SUBMISSIONS)))
    elapsed = time.monotonic() - start
    bad = [(r.status_code, r.text) for r in replies if r.status_code != 201]
    assert not bad, f"{len(bad)} of {SUBMISSIONS} refused, e.g. {bad[:3]}"
    assert not any("locked" in r.text.lower() for r in replies)
    ids = {r.json()["instance_id"] for r in replies}
    assert len(ids) == SUBMISSIONS
    count, _ = busy_store.list_jobs("p1", limit=1)
    assert count == SUBMISSIONS
    listed = httpx.get(url, params={"limit": 100}, headers=headers, timeout=300).json()
    assert listed["count"] == SUBMISSIONS
    # the worker and the writer were busy meanwhile: jobs were taken and progress kept moving
    assert any(j.claimed_by for j in busy_store.active_jobs()) or \
        busy_store.statistics("p1")["total_failed_num"] > 0
    print(f"{SUBMISSIONS} submissions in {elapsed:.1f} s")
