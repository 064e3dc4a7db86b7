"""Object storage end to end: the demo CNVkit job with every input and its output in a real S3 endpoint.

moto's server mode listens on a free 127.0.0.1 port (the session's ``s3_server``, a thread of
this process that counts the bytes every GET serves). The demo data (tests/conftest.py
``demo_data``) is uploaded to it once, and localgene is driven only through its command line,
as a user would: ``LOCALGENE_HOME`` in a temporary folder, the endpoint in
``LOCALGENE_S3_ENDPOINT_URL`` and fake credentials in ``AWS_*``; the runner and the Snakemake
child processes inherit that environment.

To keep the file fast the workflow runs twice in all, in module-scoped fixtures:

* ``first_run``: ``localgene run job.json`` (foreground), the full demo job, every input
  ``s3a://`` (the five BAMs with their ``.bai`` beside them, ``genome.fa`` with its ``.fai``,
  ``targets.bed``, ``refFlat.txt``) and ``output_dir = s3a://<bucket>/results/``.
* ``second_round``: ``localgene submit`` of two smaller jobs on the same cache, then one
  ``localgene worker --slots 2 --until-idle`` running both at once: a job with the same controls
  and reference (it must stage from the cache alone and finish), and a job whose output bucket
  is deleted between submit and run (delivery must fail it, keeping its local results).

Submit-time refusals (missing key, missing bucket, missing output bucket, wrong credentials) need no
workflow run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pandas as pd
import pytest
from s3_endpoint import ProcessServer
from workflow_helpers import expected_cn_ok, overlap_cn  # tests/ is on sys.path (tests/conftest.py)

LOCALGENE = [sys.executable, "-m", "localgene"]
SAMPLES = ("T1", "T2", "N1", "N2", "N3")
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


# -- helpers ---------------------------------------------------------------------------------

def user_env(home: Path, endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a user of the endpoint: nothing of the developer's AWS setup leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "LOCALGENE_S3_")) and k not in ("LOCALGENE_HOME", "LOCALGENE_CACHE_MAX_GB")}
    env.update(FAKE_KEYS, AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(home / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
               LOCALGENE_HOME=str(home), LOCALGENE_S3_ENDPOINT_URL=endpoint)
    env.update(extra)
    return env


def localgene(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*LOCALGENE, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def show(instance_id: str, env: dict[str, str], cwd: Path) -> dict:
    proc = localgene("show", instance_id, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def recorded_jobs(env: dict[str, str], cwd: Path) -> int:
    proc = localgene("list", env=env, cwd=cwd)  # the API's listing: {"count": N, "instances": [...]}
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["count"]


def client(endpoint: str, **keys: str):
    keys = keys or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)


def listing(s3, bucket: str, prefix: str) -> dict[str, int]:
    """Every object under ``prefix``: relative key -> size."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"][len(prefix):]: o["Size"] for o in page.get("Contents", [])})
    return out


def local_results(job_dir: Path) -> dict[str, int]:
    root = job_dir / "results"
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def read_cns(s3, bucket: str, key: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), sep="\t")


def cache_files(home: Path) -> dict[str, tuple[int, int]]:
    """The cache's verified files: path -> (inode, size); no side effect on the cache."""
    root = home / "cache" / "objects"
    return {p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_size)
            for p in root.rglob("*") if p.is_file()}


class ProgressWatcher:
    """Reads the job store every 20 ms while a job runs: the (status, done, total) values seen."""

    def __init__(self, db: Path) -> None:
        self.db, self.seen, self.halt = db, [], threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self) -> None:
        while not self.halt.wait(0.02):
            if not self.db.exists():
                continue
            try:
                with contextlib.closing(sqlite3.connect(self.db, timeout=1)) as con:
                    rows = con.execute("SELECT status, progress_done, progress_total FROM jobs").fetchall()
            except sqlite3.Error:
                continue
            for row in rows:
                if not self.seen or self.seen[-1] != row:
                    self.seen.append(row)

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(timeout=5)


# -- the endpoint, the data, the runs --------------------------------------------------------

class Uploaded:
    """The demo data in a bucket under ``inputs/``, and a job body naming it."""

    def __init__(self, endpoint: str, demo: Path) -> None:
        self.endpoint = endpoint
        self.s3 = client(endpoint)
        self.bucket = f"lg-e2e-{uuid.uuid4().hex[:10]}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.files = [f"{s}.bam" for s in SAMPLES] + ["genome.fa", "targets.bed", "refFlat.txt"]
        self.companions = [f"{s}.bam.bai" for s in SAMPLES] + ["genome.fa.fai"]
        for name in self.files + self.companions:  # data before index: the index is the newer
            self.s3.upload_file(str(demo / name), self.bucket, f"inputs/{name}")
        self.demo_body = json.loads((demo / "job.json").read_text())

    def uri(self, name: str, bucket: str | None = None) -> str:
        return f"s3a://{bucket or self.bucket}/inputs/{name}"

    def size(self, name: str) -> int:
        return self.s3.head_object(Bucket=self.bucket, Key=f"inputs/{name}")["ContentLength"]

    def body(self, experimental=("T1", "T2"), controls=("N1", "N2", "N3"), annotate=True,
             output_dir: str | None = None) -> dict:
        body = dict(self.demo_body)
        body.update(
            experimental_inputs=[self.uri(f"{s}.bam") for s in experimental],
            control_inputs=[self.uri(f"{s}.bam") for s in controls],
            ref=self.uri("genome.fa"), bed=self.uri("targets.bed"),
            has_annotate=annotate, annotation_file=self.uri("refFlat.txt"),
            output_dir=output_dir or f"s3a://{self.bucket}/results/",
        )
        return body


@pytest.fixture(scope="module")
def uploaded(s3_server, demo_data) -> Uploaded:
    return Uploaded(s3_server.endpoint, demo_data)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One LOCALGENE_HOME (so one shared input cache) for both workflow rounds."""
    return tmp_path_factory.mktemp("lg-home")


def bytes_served(server, uploaded: Uploaded) -> dict[str, int]:
    return {n: server.app.bytes_for(uploaded.bucket, f"inputs/{n}") for n in uploaded.files + uploaded.companions}


@pytest.fixture(scope="module")
def first_run(uploaded, home, s3_server, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")  # the user's folder: job bodies, the CLI's cwd
    (work / "job.json").write_text(json.dumps(uploaded.body()))
    env = user_env(home, uploaded.endpoint)
    served_before = bytes_served(s3_server, uploaded)
    watcher = ProgressWatcher(home / "localgene.db")
    started = time.monotonic()
    try:
        proc = localgene("run", "job.json", "--cores", "2", env=env, cwd=work, timeout=1800)
    finally:
        watcher.stop()
    seconds = time.monotonic() - started
    assert proc.returncode == 0, f"localgene run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    instance_id = re.search(r"^instance_id: (\S+)$", proc.stdout, re.M).group(1)
    served = {n: b - served_before[n] for n, b in bytes_served(s3_server, uploaded).items()}
    launching = sum(1 for status, _, total in watcher.seen if status == "LAUNCHING" and total)
    print(f"\nfirst run (localgene run, all inputs s3a://): {seconds:.1f} s; "
          f"{launching} staging progress values seen")
    return {"id": instance_id, "stdout": proc.stdout, "stderr": proc.stderr, "env": env, "work": work, "served": served,
            "job_dir": home / "jobs" / instance_id, "progress": watcher.seen}


@pytest.fixture(scope="module")
def second_round(first_run, uploaded, home, s3_server):
    """Two jobs at once through submit + worker, staged from the cache the first run filled."""
    env, work = first_run["env"], first_run["work"]
    doomed = f"lg-e2e-gone-{uuid.uuid4().hex[:8]}"
    uploaded.s3.create_bucket(Bucket=doomed)
    # Same controls, reference, targets and annotation as the first run; T2 alone as the tumour.
    (work / "same-controls.json").write_text(json.dumps(uploaded.body(experimental=("T2",))))
    # Small job (T1 against N1) whose output bucket disappears after submit.
    (work / "doomed.json").write_text(json.dumps(
        uploaded.body(experimental=("T1",), controls=("N1",), annotate=False,
                      output_dir=f"s3a://{doomed}/results/")))
    proc = localgene("submit", "same-controls.json", "doomed.json", env=env, cwd=work)
    assert proc.returncode == 0, proc.stderr
    same_id, doomed_id = proc.stdout.split()
    uploaded.s3.delete_bucket(Bucket=doomed)

    cache_before = cache_files(home)
    served_before = bytes_served(s3_server, uploaded)
    started = time.monotonic()
    worker = localgene("worker", "--slots", "2", "--cores", "1", "--until-idle", env=env, cwd=work, timeout=1800)
    seconds = time.monotonic() - started
    assert worker.returncode == 0, worker.stderr[-3000:]
    print(f"\nsecond round (worker, 2 jobs at once): {seconds:.1f} s")
    served = {n: b - served_before[n] for n, b in bytes_served(s3_server, uploaded).items()}
    return {"same": same_id, "doomed": doomed_id, "doomed_bucket": doomed, "env": env, "work": work,
            "cache_before": cache_before, "cache_after": cache_files(home), "served": served,
            "worker_log": worker.stderr}


# -- 1. the full job with every input and the output in object storage ------------------------

@pytest.mark.workflow
def test_full_job_finishes_and_every_output_is_in_the_bucket(first_run, uploaded):
    job = show(first_run["id"], first_run["env"], first_run["work"])
    assert job["status"] == "FINISHED", job
    prefix = f"results/{first_run['id']}/"
    in_bucket = listing(uploaded.s3, uploaded.bucket, prefix)
    for key in ["reference.cnn", "job.json", "samples/T1.call.cns", "samples/T2.call.cns",
                "plots/T1-scatter.png", "plots/T1-diagram.png", "plots/T2-scatter.png", "plots/T2-diagram.png"]:
        assert in_bucket.get(key, 0) > 0, f"{key} missing or empty under s3a://{uploaded.bucket}/{prefix}"
    # Every local result was delivered, byte for byte the same size, and nothing else.
    assert in_bucket == local_results(first_run["job_dir"])
    assert f"delivered to: s3a://{uploaded.bucket}/results/{first_run['id']}" in first_run["stdout"]


@pytest.mark.workflow
def test_every_object_was_downloaded_exactly_once(first_run, uploaded):
    # Index files were staged beside their data (the workflow used them), each object once.
    for name, served in first_run["served"].items():
        assert served == uploaded.size(name), (name, served)
    staged = first_run["job_dir"] / "inputs" / "staged"
    for name in uploaded.files + uploaded.companions:
        assert (staged / name).is_symlink() and (staged / name).resolve().is_relative_to(
            first_run["job_dir"].parents[1] / "cache" / "objects"), name


@pytest.mark.workflow
def test_staging_shows_in_progress_while_launching(first_run):
    """While LAUNCHING the progress is the percentage of input bytes staged (k/100), then steps."""
    seen = first_run["progress"]
    staging = [(done, total) for status, done, total in seen if status == "LAUNCHING" and total]
    assert staging and {total for _, total in staging} == {100}, seen
    assert [d for d, _ in staging] == sorted(d for d, _ in staging), seen
    # the terminal shows it too (plain lines when not a terminal), before the steps
    lines = first_run["stderr"].splitlines()
    shown = [line for line in lines if line.startswith("staging inputs: ")]
    assert shown and shown[-1].startswith("staging inputs: 100% ("), first_run["stderr"][-2000:]
    assert lines.index(shown[-1]) < min(i for i, line in enumerate(lines) if line.startswith("progress: "))
    status, done, total = seen[-1]
    assert status == "FINISHED" and done == total > 0 and total != 100, seen  # the workflow's steps (40)


@pytest.mark.workflow
def test_planted_events_are_called_in_the_delivered_calls(first_run, uploaded, demo_data):
    truth = json.loads((demo_data / "truth.json").read_text())
    checked = 0
    for sample in ("T1", "T2"):
        calls = read_cns(uploaded.s3, uploaded.bucket, f"results/{first_run['id']}/samples/{sample}.call.cns")
        for event in truth["samples"][sample]["events"]:
            cn = overlap_cn(calls, event["chrom"], event["start"], event["end"])
            assert expected_cn_ok(event["kind"], event["cn"], cn), (sample, event, cn)
            checked += 1
    assert checked >= 1


@pytest.mark.workflow
def test_input_size_is_the_sum_of_the_named_inputs(first_run, uploaded):
    """``input_size`` counts the objects the job names, not the .bai/.fai found beside them."""
    job = show(first_run["id"], first_run["env"], first_run["work"])
    named = sum(uploaded.size(n) for n in uploaded.files)
    companions = sum(uploaded.size(n) for n in uploaded.companions)
    assert companions > 0
    assert job["input_size"] == named


# -- 2. a second job on the same cache downloads nothing ---------------------------------------

@pytest.mark.workflow
def test_second_job_with_same_controls_downloads_nothing_and_finishes(second_round, uploaded, home):
    job = show(second_round["same"], second_round["env"], second_round["work"])
    assert job["status"] == "FINISHED", job
    assert not any(second_round["served"].values()), second_round["served"]  # no GET bytes at all
    assert second_round["cache_after"] == second_round["cache_before"]  # same files, same inodes
    staged = home / "jobs" / second_round["same"] / "inputs" / "staged"
    for name in ("N1.bam", "N2.bam", "N3.bam", "genome.fa", "genome.fa.fai"):
        assert (staged / name).resolve().relative_to(home / "cache" / "objects").as_posix() in \
            second_round["cache_before"], name
    in_bucket = listing(uploaded.s3, uploaded.bucket, f"results/{second_round['same']}/")
    assert in_bucket.get("samples/T2.call.cns", 0) > 0 and in_bucket.get("reference.cnn", 0) > 0


# -- 4. delivery failure -----------------------------------------------------------------------

@pytest.mark.workflow
def test_delivery_failure_fails_the_job_and_keeps_local_results(second_round, home):
    job = show(second_round["doomed"], second_round["env"], second_round["work"])
    assert job["status"] == "FAILED", job
    message = job["message"]
    assert re.search(r"deliver\S* failed", message), message
    assert f"bucket '{second_round['doomed_bucket']}' does not exist" in message, message
    results = local_results(home / "jobs" / second_round["doomed"])
    for name in ("reference.cnn", "samples/T1.call.cns", "plots/T1-scatter.png", "job.json"):
        assert results.get(name, 0) > 0, name


# -- 3. submit-time refusals -------------------------------------------------------------------

@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A separate moto server with IAM authentication on, a bucket holding a job's objects, a reader."""
    server = ProcessServer(tmp_path_factory.mktemp("moto-auth"))
    try:
        keys = {k.lower(): v for k, v in FAKE_KEYS.items()}
        s3 = client(server.endpoint)
        iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1", **keys)
        s3.create_bucket(Bucket="secured")
        for name in ("T1.bam", "N1.bam", "genome.fa", "targets.bed"):
            s3.put_object(Bucket="secured", Key=f"inputs/{name}", Body=b"x" * 64)
        iam.create_user(UserName="reader")
        iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]}))
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        # From now on moto checks every request's signature and the IAM policies.
        urllib.request.urlopen(urllib.request.Request(
            f"{server.endpoint}/moto-api/reset-auth", data=b"0", method="POST",
            headers={"Content-Type": "text/plain"}), timeout=10).close()
        yield server, key
    finally:
        server.kill()


@pytest.fixture(scope="module")
def submissions(uploaded, secured, tmp_path_factory):
    """``localgene submit job.json`` for each case, each in a fresh LOCALGENE_HOME, all at once.

    (``submit`` spends most of its few seconds importing CNVkit to check the options, so the
    cases run concurrently.) Returns case -> (exit code, stderr lines, jobs recorded).
    """
    server, key = secured
    missing_key = uploaded.body()
    missing_key["control_inputs"][1] = uploaded.uri("N9.bam")
    missing_bucket = uploaded.body()
    missing_bucket["ref"] = uploaded.uri("genome.fa", bucket="lg-e2e-no-such-bucket")
    secured_body = json.loads(json.dumps(uploaded.body(experimental=("T1",), controls=("N1",), annotate=False))
                              .replace(f"s3a://{uploaded.bucket}/", "s3a://secured/"))
    missing_output_bucket = uploaded.body()
    missing_output_bucket["output_dir"] = "s3a://lg-e2e-no-results-bucket/cnvkit/"
    cases = {
        "missing key": (missing_key, uploaded.endpoint, {}),
        "missing bucket": (missing_bucket, uploaded.endpoint, {}),
        "missing output bucket": (missing_output_bucket, uploaded.endpoint, {}),
        "wrong secret": (secured_body, server.endpoint,
                         {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": "not-the-secret"}),
        "right keys": (secured_body, server.endpoint,
                       {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}),
    }
    running = {}
    for case, (body, endpoint, extra) in cases.items():
        folder = tmp_path_factory.mktemp("submit")
        env = user_env(folder / "home", endpoint, **extra)
        (folder / "job.json").write_text(json.dumps(body))
        running[case] = (folder, env, subprocess.Popen([*LOCALGENE, "submit", "job.json"], cwd=folder, env=env,
                                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = {}
    for case, (folder, env, proc) in running.items():
        _, stderr = proc.communicate(timeout=120)
        results[case] = (proc.returncode, stderr.splitlines(), recorded_jobs(env, folder))
    return results


def refusal(submissions, case: str) -> str:
    """The one error line of a refused submission (exit 2, nothing recorded)."""
    code, lines, recorded = submissions[case]
    assert (code, len(lines), recorded) == (2, 1, 0), lines
    assert lines[0].startswith("localgene submit: error: ")
    return lines[0]


def test_submit_refuses_a_missing_key(submissions, uploaded):
    line = refusal(submissions, "missing key")
    assert f"control_inputs[1]: {uploaded.uri('N9.bam')} does not exist (no such object)" in line, line


def test_submit_refuses_a_missing_bucket(submissions, uploaded):
    line = refusal(submissions, "missing bucket")
    assert "ref: bucket 'lg-e2e-no-such-bucket' does not exist" in line, line
    assert "s3a://lg-e2e-no-such-bucket/inputs/genome.fa cannot be read" in line, line


def test_submit_refuses_a_missing_output_bucket(submissions):
    line = refusal(submissions, "missing output bucket")
    assert "output_dir: bucket 'lg-e2e-no-results-bucket' does not exist" in line, line
    assert "results cannot be delivered to s3a://lg-e2e-no-results-bucket/cnvkit/" in line, line


def test_submit_refuses_wrong_credentials(submissions):
    line = refusal(submissions, "wrong secret")
    assert "experimental_inputs[0]: cannot read s3a://secured/inputs/T1.bam: access denied" in line, line
    assert "credentials" in line


def test_submit_with_the_right_credentials_is_accepted(submissions):
    """The control for the test above: the same body, server and key id with the real secret.

    The reader may get objects and list, not HEAD the output bucket (moto wants s3:HeadBucket):
    a 403 there is accepted, as for a write-only role on AWS."""
    code, lines, recorded = submissions["right keys"]
    assert (code, recorded) == (0, 1), lines
