"""Pipeline jobs through the same worker as CNVkit jobs, end to end with real processes.

The pipeline workflows themselves (rules/rna_diff_expr/, rules/dna_*) are not what is tested
here: ``LOCALGENE_WORKFLOW_DIR`` points at a copy of the product Snakefile with the tiny test
workflow of tests/pipeline_workflow installed for every job type (samtools on the staged
reference, the shared index cache, localgene's delivery). What is tested is the platform:
submit → stage and resolve → config.json by the contract → Snakemake with progress → delivery →
FINISHED; the index cache shared by jobs; cancel leaving no process; failures with a reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_helpers import germline_body, install_workflow, rna_body
from test_runner import group_members

from localgene import settings as settings_mod
from localgene.jobs import references
from localgene.jobs.status import Status
from localgene.store import Store

pytestmark = pytest.mark.workflow


class Env:
    def __init__(self, root: Path):
        self.home = root / "home"
        self.data = root / "data"
        self.out = root / "out"
        self.hold = root / "hold"
        wf = install_workflow(root / "workflow")
        self.env = dict(os.environ, LOCALGENE_HOME=str(self.home), LOCALGENE_SLOTS="1",
                        LOCALGENE_WORKFLOW_DIR=str(wf), LOCALGENE_TEST_HOLD=str(self.hold))
        self.cfg = settings_mod.load({"LOCALGENE_HOME": str(self.home)}).ensure_dirs()
        self.store = Store.open(self.cfg)
        self.workers: list[subprocess.Popen] = []
        rna_body(self.data, str(self.out) + "/")  # the files
        references.add(self.home, "hg38", [str(self.data / "genome.fa")])
        references.add(self.home, "gencode.v17.annotation.gtf", [str(self.data / "genes.gtf")])

    def rna(self, **fields):
        return {**rna_body(self.data, str(self.out) + "/"), "ref": "hg38", "gtf": "gencode.v17.annotation.gtf",
                **fields}

    def cli(self, *args, check=True):
        proc = subprocess.run([sys.executable, "-m", "localgene", *args], capture_output=True, text=True,
                              env=self.env, timeout=300)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    def submit(self, body: dict) -> str:
        path = self.home / f"job-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(body))
        return self.cli("submit", str(path)).stdout.strip()

    def start_worker(self) -> subprocess.Popen:
        log = open(self.home / f"worker-{len(self.workers)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "localgene", "worker", "--cores", "2"], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def wait(self, job_id: str, pred, timeout=300.0, what=""):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.store.find(job_id)
            if pred(job):
                return job
            time.sleep(0.3)
        pytest.fail(f"timed out waiting for {what}: job is {job.status} {job.progress} {job.message}")

    def close(self):
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
                w.wait(30)


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()
    for job in e.store.active_jobs():
        if job.runner_pid:
            try:
                os.killpg(job.runner_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def final(job) -> bool:
    return job.status.is_final


def test_pipeline_jobs_run_through_the_worker_by_the_workflow_contract(env):
    first = env.submit(env.rna(library_type="fr-secondstrand"))
    second = env.submit(germline_body(env.data, str(env.out / "calls.vcf"), ref="hg38"))
    env.start_worker()
    one = env.wait(first, final, what="the RNA job")
    assert one.status is Status.FINISHED, one.message
    done, total = map(int, one.progress.split("/"))
    assert done == total == 7, "progress is done/total workflow steps"  # 6 steps + the default target
    job_dir = env.cfg.job_dir(first)

    # config.json: the body as submitted, every path or name replaced by a local absolute path,
    # outputs as given, plus instance_id and index_cache.
    config = json.loads((job_dir / "config.json").read_text())
    assert config["ref"] == str(env.data / "genome.fa") and config["gtf"] == str(env.data / "genes.gtf")
    assert config["output"] == str(env.out) + "/" and config["library_type"] == "fr-secondstrand"
    assert config["instance_id"] == first and config["index_cache"] == str(env.home / "cache" / "indexes")
    files = [f for g in config["inputs"] for s in g["group_inputs"] for f in s["files"]]
    assert len(files) == 8 and all(Path(f).is_absolute() and Path(f).is_file() for f in files)
    assert env.store.find(first).request["ref"] == "hg38", "the record keeps the body as submitted"

    # delivered to output/<job_id>/ by localgene's delivery; real samtools output
    delivered = json.loads((job_dir / "logs" / "delivered.json").read_text())
    assert delivered["destination"] == str(env.out / first)
    fai = (env.out / first / "reference.fa.fai").read_text().splitlines()
    assert [row.split("\t")[:2] for row in fai] == [["chr1", "3000"], ["chr2", "2000"]]
    genome = "".join(line for line in (env.data / "genome.fa").read_text().splitlines() if not line.startswith(">"))
    assert (env.out / first / "first_bases.fa").read_text().split("\n")[1] == genome[:20]

    # the second job (another pipeline, same reference) reused the indexes the first built
    two = env.wait(second, final, what="the germline job")
    assert two.status is Status.FINISHED, two.message
    log = (env.cfg.job_dir(second) / "logs" / "indexes.log").read_text()
    assert "reusing faidx index" in log and "reusing dict index" in log and "building" not in log
    assert "building faidx index" in (job_dir / "logs" / "indexes.log").read_text()
    assert len(list((env.home / "cache" / "indexes" / "faidx").iterdir())) == 1

    # listing, statistics and logs see them like any job
    listing = json.loads(env.cli("list", "--job-type", "RNA_DIFF_EXPR").stdout)
    assert listing["job_count"] == 1 and listing["jobs"][0]["status"] == "FINISHED"
    assert listing["jobs"][0]["progress"] == "7/7" and listing["jobs"][0]["duration"] >= 0
    stats = json.loads(env.cli("stats").stdout)
    assert stats["total_finished_num"] == 2 and stats["total_input_size"] == one.input_size + two.input_size > 0
    assert "Finished job" in env.cli("logs", first, "--tail", "50").stdout
    assert env.cli("logs", first, "--step", "indexes.log").stdout.startswith("index cache: building faidx")


def test_a_pipeline_job_is_cancelled_with_no_process_left(env):
    env.hold.write_text("hold")
    job_id = env.submit(env.rna())
    env.start_worker()
    job = env.wait(job_id, lambda j: j.status is Status.RUNNING and any(
        "sleep" in m for m in group_members(j.runner_pid or -1)), what="the hold step running")
    pgid = job.runner_pid
    env.cli("cancel", job_id)
    done = env.wait(job_id, final, timeout=120, what="cancel")
    assert done.status is Status.CANCELLED
    assert group_members(pgid) == [], "a process of the cancelled pipeline job survived"
    assert not (env.out / job_id).exists(), "nothing delivered"


def test_a_reference_removed_after_submit_fails_the_job_with_the_reason(env):
    env.hold.write_text("hold")  # nothing runs before the registry changes
    job_id = env.submit(env.rna())
    references.remove(env.home, "gencode.v17.annotation.gtf")
    env.hold.unlink()
    env.start_worker()
    job = env.wait(job_id, final, what="the job")
    assert job.status is Status.FAILED
    assert job.message.startswith("gtf: 'gencode.v17.annotation.gtf' is not a path and not a name in the "
                                  "reference registry; the registry has: hg38")


def test_a_failing_step_fails_the_job_naming_the_step(env, tmp_path):
    broken = tmp_path / "broken.fa"
    broken.write_text(">chr1\nACGT\nAC\nACGT\n")  # uneven line lengths: samtools cannot index it
    job_id = env.submit(env.rna(ref=str(broken)))
    env.start_worker()
    job = env.wait(job_id, final, what="the job")
    assert job.status is Status.FAILED
    assert job.message.startswith("step '") and "failed" in job.message and "Traceback" not in job.message
    assert "fai" in job.message.lower(), job.message
