"""A pipeline job whose reference (a registry name with a companion file), reads and output are
all in object storage (moto's server): submit checks them with HEADs, the job process stages
them into the shared cache, the workflow sees local paths only (the companion beside the
reference), and the results are uploaded to ``output/<job_id>/``; or, when ``output`` names a
file, the main result to exactly that key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest
from pipeline_helpers import install_workflow, rna_body
from s3_endpoint import ProcessServer
from test_storage_e2e import listing, localgene, user_env

from localgene.jobs import references
from localgene.storage import deliver_output

pytestmark = pytest.mark.workflow


@pytest.fixture
def moto(tmp_path):
    server = ProcessServer(tmp_path)
    yield server
    server.kill()


def test_a_pipeline_job_from_and_to_object_storage(tmp_path, moto):
    home, data = tmp_path / "home", tmp_path / "data"
    local = rna_body(data, "unused/")
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    for bucket in ("refs", "reads", "results"):
        s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(data / "genome.fa"), "refs", "hg38/genome.fa")
    (data / "genome.fa.fai").write_text("chr1\t3000\t6\t60\t61\n")  # a companion the workflow must see beside it
    s3.upload_file(str(data / "genome.fa.fai"), "refs", "hg38/genome.fa.fai")
    s3.upload_file(str(data / "genes.gtf"), "refs", "genes.gtf")
    body = {**local, "ref": "hg38", "gtf": "s3a://refs/genes.gtf", "output": "s3a://results/rna/"}
    for group in body["inputs"]:
        for sample in group["group_inputs"]:
            keys = []
            for path in sample["files"]:
                s3.upload_file(path, "reads", Path(path).name)
                keys.append(f"s3a://reads/{Path(path).name}")
            sample["files"] = keys
    env = user_env(home, moto.endpoint, LOCALGENE_WORKFLOW_DIR=str(install_workflow(tmp_path / "wf")))
    home.mkdir()
    added = localgene("references", "add", "hg38", "s3a://refs/hg38/genome.fa", "s3a://refs/hg38/genome.fa.fai",
                      env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    job = tmp_path / "job.json"
    job.write_text(json.dumps(body))

    run = localgene("run", str(job), "--cores", "1", env=env, cwd=tmp_path, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    job_id = run.stdout.split("instance_id:", 1)[1].split()[0]
    job_dir = home / "jobs" / job_id
    config = json.loads((job_dir / "config.json").read_text())
    assert config["output"] == "s3a://results/rna/", "outputs stay as given"
    ref = Path(config["ref"])
    assert ref == job_dir / "inputs" / "references" / "ref" / "genome.fa"
    assert (ref.parent / "genome.fa.fai").read_text().startswith("chr1\t3000"), "the companion sits beside it"
    assert ref.read_bytes() == (data / "genome.fa").read_bytes()
    assert Path(config["gtf"]) == job_dir / "inputs" / "staged" / "genes.gtf"
    files = [f for g in config["inputs"] for s in g["group_inputs"] for f in s["files"]]
    assert all(f.startswith(str(job_dir / "inputs" / "staged")) and os.path.isfile(f) for f in files)
    assert list((home / "cache").glob("objects/**/*")), "staged through the shared cache"

    delivered = listing(s3, "results", f"rna/{job_id}/")
    assert set(delivered) == {"config_seen.json", "reference.fa.fai", "first_bases.fa", "hold.done"}
    fai = s3.get_object(Bucket="results", Key=f"rna/{job_id}/reference.fa.fai")["Body"].read().decode()
    assert fai.split("\t")[:2] == ["chr1", "3000"]
    shown = json.loads(localgene("show", job_id, env=env, cwd=tmp_path).stdout)
    assert shown["status"] == "FINISHED" and shown["input_size"] > 0


def test_an_output_naming_a_file_gets_the_main_result(tmp_path, moto, monkeypatch):
    monkeypatch.setenv("LOCALGENE_S3_ENDPOINT_URL", moto.endpoint)
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="out")
    results = tmp_path / "results"
    (results / "de").mkdir(parents=True)
    (results / "de" / "treated_vs_control.csv").write_text("gene_id,log2FoldChange\ng1,2.5\n")
    (results / "counts.tsv").write_text("g1\t10\n")
    sent = deliver_output(results, "s3a://out/study/de.csv", "job1", main=results / "de" / "treated_vs_control.csv")
    assert sent["main"] == "s3a://out/study/de.csv" and sent["destination"] == "s3a://out/study/job1"
    assert s3.get_object(Bucket="out", Key="study/de.csv")["Body"].read() == b"gene_id,log2FoldChange\ng1,2.5\n"
    assert set(listing(s3, "out", "study/job1/")) == {"counts.tsv", "de/treated_vs_control.csv"}
    local = deliver_output(results, str(tmp_path / "o" / "counts.tsv"), "job2", main=results / "counts.tsv")
    assert local["main"] == str(tmp_path / "o" / "counts.tsv")
    assert (tmp_path / "o" / "counts.tsv").read_text() == "g1\t10\n"
    assert (tmp_path / "o" / "job2" / "de" / "treated_vs_control.csv").is_file()
    folder = deliver_output(results, str(tmp_path / "p" / "results"), "job3", main=results / "counts.tsv")
    assert folder["main"] is None and (tmp_path / "p" / "results" / "job3" / "counts.tsv").is_file()


def test_a_name_whose_object_is_missing_is_refused_at_submit(tmp_path, moto):
    home = tmp_path / "home"
    home.mkdir()
    env = user_env(home, moto.endpoint, LOCALGENE_WORKFLOW_DIR=str(install_workflow(tmp_path / "wf")))
    references.add(home, "hg38", ["s3a://refs/none.fa"], check=False)
    body = rna_body(tmp_path / "data", str(tmp_path / "out") + "/", ref="hg38")
    job = tmp_path / "job.json"
    job.write_text(json.dumps(body))
    refused = localgene("submit", str(job), env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr == (f"localgene submit: error: {job}: ref: bucket 'refs' does not exist "
                              f"(at {moto.endpoint}), so s3a://refs/none.fa cannot be read\n")
    assert json.loads(localgene("list", "--job-type", "RNA_DIFF_EXPR", env=env, cwd=tmp_path).stdout)["job_count"] == 0
