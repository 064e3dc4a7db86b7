"""Pipeline jobs through the API: submit (201, registry names, every check before anything is
recorded), listing with the request as a JSON string, one job, log, cancel, statistics; and a
corpus of bad pipeline submissions, each refused with the right code naming the field and
leaving the store exactly as it was."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from pipeline_helpers import germline_body, install_workflow, no_pipelines, rna_body, write_fasta
from spec_checks import UUID4, check_error, check_job, check_statistics

from localgene.jobs import references
from localgene.jobs.bodies import PIPELINE_MODELS, new_record

JOBS = "/v2.0/p1/gene/jobs"
STATS = "/v2.0/p1/gene/statistics"


@pytest.fixture
def pipelines(env, tmp_path, monkeypatch):
    """The test workflow installed for every job type, a registry with a few names, data files."""
    monkeypatch.setenv("LOCALGENE_WORKFLOW_DIR", str(install_workflow(tmp_path / "workflow")))
    data = tmp_path / "data"
    rna_body(data, str(tmp_path / "out") + "/")  # creates the files
    germline_body(data, str(tmp_path / "out.vcf"))
    references.add(env.home, "hg38", [str(data / "genome.fa")])
    references.add(env.home, "gencode.v17.annotation.gtf", [str(data / "genes.gtf")])
    references.add(env.home, "dbsnp_146.hg38.vcf", [str(data / "known.vcf")])
    return data


def rna(data: Path, **fields: Any) -> dict[str, Any]:
    fields = {"ref": "hg38", "gtf": "gencode.v17.annotation.gtf", "output": str(data.parent / "out") + "/", **fields}
    return {**rna_body(data, fields["output"]), **fields}


def sizes(*paths) -> int:
    return sum(os.path.getsize(p) for p in paths)


def test_submit_rna_and_germline_201_listed_with_the_request_as_json_and_counted(client, env, pipelines):
    h = env.headers("bob")
    body = rna(pipelines, library_type="fr-firststrand")
    reply = client.post(JOBS, json=body, headers=h)
    assert reply.status_code == 201, reply.text
    assert set(reply.json()) == {"job_id"} and UUID4.fullmatch(reply.json()["job_id"])
    rna_id = reply.json()["job_id"]
    assert reply.headers["location"] == f"{JOBS}/{rna_id}"

    germ = germline_body(pipelines, str(pipelines.parent / "out.vcf"), ref="hg38",
                         knownsites=["dbsnp_146.hg38.vcf"])
    germ_reply = client.post(JOBS, json=germ, headers=h)
    assert germ_reply.status_code == 201, germ_reply.text
    germ_id = germ_reply.json()["job_id"]

    listing = client.get(JOBS, headers=h).json()
    assert listing["job_count"] == 2 and [j["job_id"] for j in listing["jobs"]] == [germ_id, rna_id]
    item = listing["jobs"][1]
    assert item["status"] == "LAUNCHING" and item["owner"] == "bob" and item["message"] == ""
    request = check_job(item)
    assert list(request) == list(PIPELINE_MODELS["RNA_DIFF_EXPR"].model_fields)
    assert request == {**{k: None for k in request}, **body}, "as submitted (names, not paths); unsent: null"
    assert request["adapt"] is None and request["bed"] is None and request["ref"] == "hg38"
    assert client.get(JOBS, params={"job_type": "DNA_GERMLINE"}, headers=h).json()["jobs"][0]["job_id"] == germ_id
    assert client.get(f"{JOBS}/{rna_id}", headers=h).json()["request"] == item["request"]
    log = client.get(f"{JOBS}/{rna_id}/log", params={"tail": 5}, headers=h).json()
    assert log == {"job_id": rna_id, "status": "LAUNCHING", "progress": "0/0", "log": ""}

    record = env.store().find(rna_id)
    reads = [f for g in body["inputs"] for s in g["group_inputs"] for f in s["files"]]
    assert record.kind == "RNA_DIFF_EXPR"
    assert record.input_size == sizes(pipelines / "genome.fa", pipelines / "genes.gtf", *reads)
    stats = client.get(STATS, headers=h).json()
    check_statistics(stats, admin=False)
    assert stats["total_launching_num"] == 2
    assert stats["total_input_size"] == record.input_size + env.store().find(germ_id).input_size

    assert client.delete(f"{JOBS}/{rna_id}", headers=h).json() == {}
    assert client.get(f"{JOBS}/{rna_id}", headers=h).json()["status"] == "CANCELLED"
    check_error(client.delete(f"{JOBS}/{rna_id}", headers=h), 409, "DLI.0409")
    assert client.get(STATS, headers=h).json()["total_cancelled_num"] == 1


def test_a_registry_change_is_seen_by_the_next_submission(client, env, pipelines):
    h = env.headers("alice")
    check_error(client.post(JOBS, json=rna(pipelines, ref="hg19"), headers=h), 400, "DLI.0002",
                "ref: 'hg19' is not a path and not a name in the reference registry; the registry has: "
                "dbsnp_146.hg38.vcf, gencode.v17.annotation.gtf, hg38")
    references.add(env.home, "hg19", [str(write_fasta(pipelines / "hg19.fa", seed=7))])
    assert client.post(JOBS, json=rna(pipelines, ref="hg19"), headers=h).status_code == 201


def test_a_pipeline_whose_workflow_is_not_installed_is_refused(client, env, pipelines, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALGENE_WORKFLOW_DIR", str(install_workflow(tmp_path / "rna-only", kinds=("RNA_DIFF_EXPR",))))
    before = env.snapshot()
    germ = germline_body(pipelines, str(tmp_path / "o.vcf"))
    check_error(client.post(JOBS, json=germ, headers=env.headers("alice")), 400, "DLI.0007",
                "job_type: the DNA_GERMLINE pipeline is not available in this localgene: its workflow "
                "rules/dna_germline/main.smk is not installed")
    assert env.snapshot() == before
    assert client.post(JOBS, json=rna(pipelines), headers=env.headers("alice")).status_code == 201


# --------------------------------------------------------------------------------------------
# The corpus of bad pipeline submissions


@dataclass
class BadPipeline:
    id: str
    status: int
    code: str
    needle: str
    #: the body, from the data folder
    body: Callable[[Path], Any]


def _truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[:20])
    return path


def _swap_r2(data: Path) -> dict[str, Any]:
    body = rna(data)
    body["inputs"][1]["group_inputs"][0]["files"][1] = str(data / "c1_R2.fastq.gz")
    return body


def _not_gzip(data: Path) -> dict[str, Any]:
    body = rna(data)
    bad = data / "bad_R1.fastq.gz"
    bad.write_text("@r\nACGT\n+\nIIII\n")
    body["inputs"][0]["group_inputs"][1]["files"][0] = str(bad)
    return body


def _output_under_a_file(data: Path) -> dict[str, Any]:
    (data / "afile").write_text("x")
    return rna(data, output=str(data / "afile" / "out") + "/")


def _knownsite_missing(data: Path) -> dict[str, Any]:
    return germline_body(data, str(data / "o.vcf"), knownsites=["dbsnp_146.hg38.vcf", str(data / "none.vcf")])


PIPELINE_CORPUS = [
    BadPipeline("unknown-ref-name", 400, "DLI.0002", "the registry has: dbsnp_146.hg38.vcf, gencode", lambda d: rna(d, ref="hg18")),
    BadPipeline("name-of-the-wrong-kind", 400, "DLI.0002", "gtf: 'hg38' is a fasta in the reference registry; this field takes gtf",
                lambda d: rna(d, gtf="hg38")),
    BadPipeline("unknown-knownsites-name", 400, "DLI.0002", "knownsites[0]: 'dbsnp' is not a path",
                lambda d: germline_body(d, str(d / "o.vcf"), knownsites=["dbsnp"])),
    BadPipeline("missing-knownsite-file", 400, "DLI.0002", "knownsites[1]:", _knownsite_missing),
    BadPipeline("missing-fastq", 400, "DLI.0002", "inputs[1].group_inputs[1].files[0]:",
                lambda d: json.loads(json.dumps(rna(d)).replace("t2_R1.fastq.gz", "t9_R1.fastq.gz"))),
    BadPipeline("r1-r2-do-not-pair", 400, "DLI.0001",
                "inputs[1].group_inputs[0].files[1]: does not pair with inputs[1].group_inputs[0].files[0]", _swap_r2),
    BadPipeline("fastq-not-gzip", 400, "DLI.0001", "inputs[0].group_inputs[1].files[0]: ends with .gz but is not gzip",
                _not_gzip),
    BadPipeline("one-sample-group", 400, "DLI.0001", "inputs[0].group_inputs: group 'control' has 1 sample",
                lambda d: rna_body(d, str(d / "o") + "/", samples_per_group=1)),
    BadPipeline("relative-path", 400, "DLI.0001", "gtf: 'genes/x.gtf' is a relative path",
                lambda d: rna(d, gtf="genes/x.gtf")),
    BadPipeline("relative-output", 400, "DLI.0001", "output: 'out/' is a relative path", lambda d: rna(d, output="out/")),
    BadPipeline("output-below-a-file", 400, "DLI.0001", "output:", _output_under_a_file),
    BadPipeline("bad-url-scheme", 400, "DLI.0001", "ref:", lambda d: rna(d, ref="http://x/g.fa")),
    BadPipeline("unknown-field", 400, "DLI.0001", "unknown field", lambda d: {**rna(d), "threads": 8}),
    BadPipeline("bad-library-type", 400, "DLI.0001", "library_type: must be one of", lambda d: rna(d, library_type="ISR")),
]


def test_the_pipeline_corpus_is_distinct():
    assert len({bad.id for bad in PIPELINE_CORPUS}) == len(PIPELINE_CORPUS) >= 12


@pytest.mark.parametrize("bad", PIPELINE_CORPUS, ids=[b.id for b in PIPELINE_CORPUS])
def test_bad_pipeline_submission(client, env, pipelines, bad: BadPipeline):
    env.store().submit(new_record("p1", "alice", "RNA_DIFF_EXPR", rna(pipelines)))  # "unchanged" means something
    before = env.snapshot()
    check_error(client.post(JOBS, json=bad.body(pipelines), headers=env.headers("alice")), bad.status, bad.code,
                bad.needle)
    assert env.snapshot() == before


def test_no_pipelines_installed_refuses_every_job_type(client, env, pipelines, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALGENE_WORKFLOW_DIR", str(no_pipelines(tmp_path / "bare")))
    for body in (rna(pipelines), germline_body(pipelines, str(tmp_path / "o.vcf"))):
        check_error(client.post(JOBS, json=body, headers=env.headers("alice")), 400, "DLI.0007",
                    f"{body['job_type']} pipeline is not available")


# --------------------------------------------------------------------------------------------
# The CLI, through a server and on the local store


def test_cli_pipeline_commands_through_the_server(live, env, pipelines, tmp_path, monkeypatch, capsys):
    from localgene import cli

    monkeypatch.setenv("LOCALGENE_SERVER", live.url)
    monkeypatch.setenv("LOCALGENE_TOKEN", env.tokens["alice"])
    monkeypatch.setenv("LOCALGENE_HOME", str(tmp_path / "client-home"))  # names resolve on the server
    job = tmp_path / "rna.json"
    job.write_text(json.dumps(rna(pipelines)))
    assert cli.main(["submit", str(job), "--project", "p1"]) == 0
    job_id = capsys.readouterr().out.strip()
    assert env.store().find(job_id).kind == "RNA_DIFF_EXPR"
    assert cli.main(["list", "--project", "p1", "--job-type", "RNA_DIFF_EXPR"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["job_count"] == 1 and json.loads(listing["jobs"][0]["request"])["ref"] == "hg38"
    assert cli.main(["show", job_id, "--project", "p1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["job_id"] == job_id and shown["status"] == "LAUNCHING"
    assert cli.main(["logs", job_id, "--project", "p1", "--tail", "3"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["cancel", job_id, "--project", "p1"]) == 0
    assert capsys.readouterr().out.strip() == f"{job_id}: CANCELLED"
    job.write_text(json.dumps(rna(pipelines, ref="hg00")))
    assert cli.main(["submit", str(job), "--project", "p1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("localgene submit: error: ref: 'hg00' is not a path") and err.count("\n") == 1
    assert not (tmp_path / "client-home" / "localgene.db").exists()


def test_cli_pipeline_commands_on_the_local_store(env, pipelines, tmp_path, monkeypatch, capsys):
    from localgene import cli

    monkeypatch.delenv("LOCALGENE_SERVER", raising=False)
    monkeypatch.setenv("LOCALGENE_HOME", str(env.home))
    monkeypatch.chdir(pipelines)
    body = rna(pipelines)
    body["inputs"][0]["group_inputs"][0]["files"] = ["c1_R1.fastq.gz", "c1_R2.fastq.gz"]  # relative: from here
    job = tmp_path / "rna.json"
    job.write_text(json.dumps(body))
    assert cli.main(["submit", str(job), "--project", "p1", "--owner", "zed"]) == 0
    job_id = capsys.readouterr().out.strip()
    record = env.store().find(job_id)
    assert record.owner == "zed" and record.request["ref"] == "hg38"
    assert record.request["inputs"][0]["group_inputs"][0]["files"][0] == str(pipelines / "c1_R1.fastq.gz")
    assert cli.main(["show", job_id, "--project", "p1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["progress"] == "0/0" and shown["job_dir"].endswith(job_id) and shown["input_size"] > 0
    assert cli.main(["list", "--project", "p1", "--job-type", "RNA_DIFF_EXPR", "--table"]) == 0
    assert job_id in capsys.readouterr().out
    assert cli.main(["cancel", job_id, "--project", "p1"]) == 0
    assert capsys.readouterr().out.strip() == f"{job_id}: CANCELLED"


def test_dna_engines_and_options_that_cannot_run_here_are_refused_and_gatk_is_warned_about(client, env, pipelines,
                                                                                           tmp_path):
    h = env.headers("alice")
    before = env.snapshot()
    for fields, needle in (({"engine": "tensorflow"}, "engine: 'tensorflow' cannot run"),
                           ({"read_pipeline_spark_conf": ["--known-sites x.vcf"]},
                            "read_pipeline_spark_conf[0]: option --known-sites is not supported")):
        body = germline_body(pipelines, str(tmp_path / "o.vcf"), **fields)
        check_error(client.post(JOBS, json=body, headers=h), 400, "DLI.0007", needle)
    assert env.snapshot() == before
    reply = client.post(JOBS, json=germline_body(pipelines, str(tmp_path / "o.vcf"), engine="gatk"), headers=h)
    assert reply.status_code == 201
    record = env.store().find(reply.json()["job_id"])
    assert any("gatk" in w.lower() for w in record.warnings), record.warnings
    assert any("bqsr" in w.lower() for w in record.warnings), record.warnings


def test_retry_puts_a_failed_pipeline_job_back_in_the_queue(client, env, pipelines):
    from localgene.jobs.status import Status

    h = env.headers("alice")
    store = env.store()
    job_id = client.post(JOBS, json=rna(pipelines), headers=h).json()["job_id"]
    check_error(client.post(f"{JOBS}/{job_id}/retry", headers=h), 409, "DLI.0409",
                "job is LAUNCHING; only FAILED or CANCELLED jobs can be retried")
    assert store.claim(job_id)
    store.transition(job_id, Status.RUNNING)
    store.transition(job_id, Status.FAILED, message="step 'align' failed: no space left")
    check_error(client.post(f"{JOBS}/{job_id}/retry", headers=env.headers("bob")), 403, "DLI.0403",
                "belongs to another user")
    assert client.post(f"{JOBS}/{job_id}/retry", headers=h).json() == {}
    item = client.get(f"{JOBS}/{job_id}", headers=h).json()
    assert item["status"] == "LAUNCHING" and "retried (it was FAILED" in item["message"]
