"""Every endpoint's reply shape and status code, paging and time filters, statistics, the
extensions (one job, cancel, log), the OpenAPI document, request ids and the 500 path."""

from __future__ import annotations

import json
import logging
import time

import pytest
from api_helpers import INPUT_SIZE
from spec_checks import (
    UUID4,
    check_cnvkit_listing,
    check_error,
    check_instance,
    check_job,
    check_statistics,
)

from localgene.cnvkit import plan as job_plan
from localgene.jobs import service
from localgene.jobs.bodies import new_record
from localgene.jobs.status import Status
from localgene.store import Store

CNVKIT = "/v2.0/p1/gene/tools/cnvkit"
JOBS = "/v2.0/p1/gene/jobs"
STATS = "/v2.0/p1/gene/statistics"

GERMLINE = {"job_type": "DNA_GERMLINE", "input": ["/d/s_1.fq.gz", "/d/s_2.fq.gz"], "output": "/d/out.vcf",
            "file_type": "fastq", "ref": "hg38", "knownsites": ["dbsnp_146.hg38.vcf"]}
SOMATIC = {"job_type": "DNA_SOMATIC", "output": "/d/out.vcf", "file_type": "BAM", "ref": "hg38",
           "inputs": [{"sample_type": "tumor", "sample_inputs": ["/d/t.bam"]},
                      {"sample_type": "normal", "sample_inputs": ["/d/n.bam"]}],
           "tumor_sample_name": "T", "normal_sample_name": "N", "expect_time": "2h"}


def record(store: Store, kind="cnvkit", owner="alice", project="p1", start=None, request=None, size=0):
    req = request or ({"experimental_inputs": ["/x/T.bam"], "control_inputs": ["/x/N.bam"], "output_dir": "/x/o",
                       "ref": "/x/g.fa", "bed": "/x/t.bed"} if kind == "cnvkit" else GERMLINE)
    rec = new_record(project, owner, kind, req, input_size=size, start_time=start)
    store.submit(rec)
    return rec.instance_id


# --------------------------------------------------------------------------------------------
# CNVkit jobs


def test_submit_cnvkit_201_then_listed_with_every_field(client, env):
    body = env.body()
    before = int(time.time() * 1000)
    reply = client.post(CNVKIT, json=body, headers=env.headers("alice"))
    after = int(time.time() * 1000)
    assert reply.status_code == 201, reply.text
    assert set(reply.json()) == {"instance_id"}
    instance_id = reply.json()["instance_id"]
    assert UUID4.fullmatch(instance_id)
    assert reply.headers["location"] == f"{CNVKIT}/{instance_id}"

    listing = client.get(CNVKIT, headers=env.headers("alice")).json()
    check_cnvkit_listing(listing)
    assert listing["count"] == 1
    item = listing["instances"][0]
    check_instance(item, sent=body)
    assert item["instance_id"] == instance_id
    assert item["owner"] == "alice" and item["status"] == "LAUNCHING" and item["message"] == ""
    assert before <= item["start_time"] <= after
    assert list(item)[:6] == ["instance_id", "owner", "status", "start_time", "duration", "message"]

    stored = env.store().find(instance_id)
    assert stored.project_id == "p1" and stored.kind == "cnvkit" and stored.request == body
    assert stored.input_size == INPUT_SIZE


def test_submit_keeps_the_body_exactly_as_sent(client, env):
    body = env.body(has_annotate=False, call_conf="--center median")
    body = dict(reversed(list(body.items())))  # key order is the client's
    reply = client.post(CNVKIT, json=body, headers=env.headers("bob"))
    assert reply.status_code == 201, reply.text
    stored = env.store().find(reply.json()["instance_id"])
    assert list(stored.request) == list(body) and stored.request == body
    # annotation_file sent with has_annotate false is accepted and noted
    detail = client.get(f"{CNVKIT}/{stored.instance_id}", headers=env.headers("bob")).json()
    assert any("annotation_file is ignored" in w for w in detail["warnings"])


def test_the_service_sample_options_are_accepted(client, env):
    if job_plan._dnacopy_problem():
        pytest.skip("R with DNAcopy is not installed (segment -m cbs needs it)")
    body = env.body(
        has_annotate=False, target_conf="--split", antitarget_conf="-a 100000", reference_conf="--no-rmask",
        coverage_conf="-q 10 -p 5", fix_conf="--no-rmask",
        segment_conf="-m cbs --drop-low-coverage -t 0.001 --drop-outliers 5",
        genemetrics_conf="--drop-low-coverage -a 0.001 -b 150 --mean",
        call_conf="--center mean --center-at 0 --drop-low-coverage", sex_conf="-y")
    reply = client.post(CNVKIT, json=body, headers=env.headers("alice"))
    assert reply.status_code == 201, reply.text


def test_one_instance_extension(client, env):
    instance_id = client.post(CNVKIT, json=env.body(), headers=env.headers("alice")).json()["instance_id"]
    reply = client.get(f"{CNVKIT}/{instance_id}", headers=env.headers("alice"))
    assert reply.status_code == 200
    detail = reply.json()
    assert detail.pop("progress") == "0/0"
    assert detail.pop("input_size") == INPUT_SIZE
    assert isinstance(detail.pop("warnings"), list)
    check_instance(detail, sent=env.body())
    # upper-case ids are the same job
    assert client.get(f"{CNVKIT}/{instance_id.upper()}", headers=env.headers("alice")).status_code == 200


def test_cancel_cnvkit_job_and_409_when_the_state_forbids_it(client, env):
    h = env.headers("alice")
    queued = client.post(CNVKIT, json=env.body(), headers=h).json()["instance_id"]
    reply = client.delete(f"{CNVKIT}/{queued}", headers=h)
    assert reply.status_code == 200 and reply.json() == {}
    item = client.get(CNVKIT, params={"instance-id": queued}, headers=h).json()["instances"][0]
    assert item["status"] == "CANCELLED" and item["message"] == "cancelled by the user"
    check_error(client.delete(f"{CNVKIT}/{queued}", headers=h), 409, "DLI.0409", "CANCELLED")

    store = env.store()
    running = client.post(CNVKIT, json=env.body(), headers=h).json()["instance_id"]
    assert store.claim(running)
    store.transition(running, Status.RUNNING)
    assert client.delete(f"{CNVKIT}/{running}", headers=h).json() == {}
    assert store.find(running).status is Status.CANCELING
    check_error(client.delete(f"{CNVKIT}/{running}", headers=h), 409, "DLI.0409", "CANCELING")

    done = client.post(CNVKIT, json=env.body(), headers=h).json()["instance_id"]
    store.claim(done)
    store.transition(done, Status.RUNNING)
    store.transition(done, Status.FINISHED)
    before = env.snapshot()
    check_error(client.delete(f"{CNVKIT}/{done}", headers=h), 409, "DLI.0409", "FINISHED")
    assert env.snapshot() == before
    # a CNVkit id on the pipeline path is unknown there
    check_error(client.delete(f"{JOBS}/{done}", headers=h), 404, "DLI.0023")
    check_error(client.get(f"{JOBS}/{done}", headers=h), 404, "DLI.0023")


def test_log_extension(client, env):
    h = env.headers("alice")
    instance_id = client.post(CNVKIT, json=env.body(), headers=h).json()["instance_id"]
    reply = client.get(f"{CNVKIT}/{instance_id}/log", headers=h)
    assert reply.status_code == 200
    assert reply.json() == {"instance_id": instance_id, "status": "LAUNCHING", "progress": "0/0", "log": ""}
    logs = env.cfg.job_dir(instance_id) / "logs"
    (logs / "segment").mkdir(parents=True)
    (logs / "snakemake.log").write_text("".join(f"line {i}\n" for i in range(300)))
    (logs / "segment" / "T1.log").write_text("cnvkit.py segment ...\ndone\n")
    assert client.get(f"{CNVKIT}/{instance_id}/log", headers=h).json()["log"].count("\n") == 100
    assert client.get(f"{CNVKIT}/{instance_id}/log", params={"tail": 2}, headers=h).json()["log"] == \
        "line 298\nline 299\n"
    step = client.get(f"{CNVKIT}/{instance_id}/log", params={"step": "segment/T1.log"}, headers=h).json()
    assert step["log"] == "cnvkit.py segment ...\ndone\n"
    for bad in ("../config.json", "/etc/passwd", "segment/../../config.json", "a\x00b", "", "x" * 300):
        check_error(client.get(f"{CNVKIT}/{instance_id}/log", params={"step": bad}, headers=h), 400, "DLI.0001", "step")
    for bad in ("0", "10001", "-1", "ten"):
        check_error(client.get(f"{CNVKIT}/{instance_id}/log", params={"tail": bad}, headers=h), 400, "DLI.0001", "tail")


# --------------------------------------------------------------------------------------------
# Pipeline jobs


def test_retry_puts_a_failed_or_cancelled_job_back_in_the_queue_and_409_otherwise(client, env):
    h = env.headers("alice")
    store = env.store()
    failed = client.post(CNVKIT, json=env.body(), headers=h).json()["instance_id"]
    assert store.claim(failed)
    store.transition(failed, Status.RUNNING)
    store.transition(failed, Status.FAILED, message="step 'coverage' (sample=T1) failed: no space left")
    reply = client.post(f"{CNVKIT}/{failed}/retry", headers=h)
    assert reply.status_code == 200 and reply.json() == {}
    item = client.get(f"{CNVKIT}/{failed}", headers=h).json()
    assert item["status"] == "LAUNCHING" and item["message"] == \
        "retried (it was FAILED: step 'coverage' (sample=T1) failed: no space left)"
    assert store.claim_next_launching("w").instance_id == failed  # a worker takes it (and resumes it)
    check_error(client.post(f"{CNVKIT}/{failed}/retry", headers=h), 409, "DLI.0409",
                "job is LAUNCHING; only FAILED or CANCELLED jobs can be retried")
    cancelled = client.post(CNVKIT, json=env.body(), headers=h).json()["instance_id"]
    client.delete(f"{CNVKIT}/{cancelled}", headers=h)
    before = env.snapshot()
    check_error(client.post(f"{CNVKIT}/{cancelled}/retry", headers=env.headers("bob")), 403, "DLI.0403",
                "belongs to another user")
    check_error(client.post(f"{CNVKIT}/{cancelled}/retry", params={"x": "1"}, headers=h), 400, "DLI.0001",
                "unknown query parameter")
    assert env.snapshot() == before
    assert client.post(f"{CNVKIT}/{cancelled}/retry", headers=h).json() == {}
    check_error(client.post(f"{CNVKIT}/00000000-0000-4000-8000-000000000000/retry", headers=h), 404, "DLI.0023")


def test_pipeline_submit_is_validated_in_full_then_refused_when_its_workflow_is_missing(client, env, tmp_path,
                                                                                       monkeypatch):
    from pipeline_helpers import no_pipelines

    monkeypatch.setenv("LOCALGENE_WORKFLOW_DIR", str(no_pipelines(tmp_path / "workflow")))
    before = env.snapshot()
    for body in (GERMLINE, SOMATIC):
        check_error(client.post(JOBS, json=body, headers=env.headers("alice")), 400, "DLI.0007",
                    f"{body['job_type']} pipeline is not available")
    check_error(client.post(JOBS, json={**GERMLINE, "output": "/d/out.txt"}, headers=env.headers("alice")),
                400, "DLI.0001", "output: must be a VCF path")
    check_error(client.post(JOBS, json={**GERMLINE, "job_type": "RNA"}, headers=env.headers("alice")),
                400, "DLI.0001", "job_type")
    assert env.snapshot() == before


def test_pipeline_listing_shape_filter_get_and_cancel(client, env):
    store = env.store()
    germline = record(store, "DNA_GERMLINE", start=1_700_000_000_000)
    somatic = record(store, "DNA_SOMATIC", start=1_700_000_000_001, request=SOMATIC)
    record(store, "cnvkit", start=1_700_000_000_002)
    h = env.headers("alice")
    listing = client.get(JOBS, headers=h).json()
    assert set(listing) == {"job_count", "jobs"} and listing["job_count"] == 2
    assert [j["job_id"] for j in listing["jobs"]] == [somatic, germline]
    requests = [check_job(j) for j in listing["jobs"]]
    assert requests[0]["expect_time"] == "2h" and requests[0]["pon"] is None
    assert requests[1]["file_type"] == "fastq" and requests[1]["engine"] is None  # as sent; unsent: null
    assert listing["jobs"][1]["progress"] == "0/0"

    only = client.get(JOBS, params={"job_type": "DNA_SOMATIC"}, headers=h).json()
    assert only["job_count"] == 1 and only["jobs"][0]["job_id"] == somatic
    assert client.get(JOBS, params={"job_type": "RNA_DIFF_EXPR"}, headers=h).json() == {"job_count": 0, "jobs": []}

    one = client.get(f"{JOBS}/{germline}", headers=h)
    assert one.status_code == 200 and one.json() == listing["jobs"][1] | {"duration": one.json()["duration"]}
    check_job(one.json())

    assert client.delete(f"{JOBS}/{germline}", headers=h).json() == {}
    assert client.get(f"{JOBS}/{germline}", headers=h).json()["status"] == "CANCELLED"
    check_error(client.delete(f"{JOBS}/{germline}", headers=h), 409, "DLI.0409")
    # a pipeline id on the CNVkit path is unknown there
    check_error(client.delete(f"{CNVKIT}/{somatic}", headers=h), 404, "DLI.0023")
    check_error(client.get(f"{JOBS}/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=h), 404, "DLI.0023")


# --------------------------------------------------------------------------------------------
# Paging and time filters


@pytest.fixture
def many(env):
    """25 CNVkit jobs of alice in p1: start times 1000, 1000, 1010, 1020, ... (two equal)."""
    store = env.store()
    ids = []
    for i in range(25):
        start = 1_600_000_000_000 + max(0, i - 1) * 10
        ids.append(record(store, start=start))
    return ids  # in submission order


def test_paging_newest_first_without_repeats_or_gaps(client, env, many):
    h = env.headers("alice")
    first = client.get(CNVKIT, headers=h).json()
    assert first["count"] == 25 and len(first["instances"]) == 10  # default limit 10
    check_cnvkit_listing(first, real_times=False)
    seen = []
    for page in range(1, 5):
        listing = client.get(CNVKIT, params={"limit": 7, "offset": 7 * (page - 1)}, headers=h).json()
        assert listing["count"] == 25
        seen += [i["instance_id"] for i in listing["instances"]]
    assert seen == list(reversed(many)), "newest first; equal start times: latest submitted first"
    past = client.get(CNVKIT, params={"offset": 25}, headers=h).json()
    assert past == {"count": 25, "instances": []}
    assert len(client.get(CNVKIT, params={"limit": 100}, headers=h).json()["instances"]) == 25
    assert len(client.get(CNVKIT, params={"limit": 1}, headers=h).json()["instances"]) == 1


def test_time_filters_are_inclusive(client, env, many):
    h = env.headers("alice")
    base = 1_600_000_000_000
    got = client.get(CNVKIT, params={"start": base + 10, "end": base + 30, "limit": 100}, headers=h).json()
    assert got["count"] == 3 and [i["start_time"] - base for i in got["instances"]] == [30, 20, 10]
    exact = client.get(CNVKIT, params={"start": base, "end": base}, headers=h).json()
    assert exact["count"] == 2
    assert client.get(CNVKIT, params={"start": base + 231}, headers=h).json()["count"] == 0
    assert client.get(CNVKIT, params={"end": base - 1}, headers=h).json()["count"] == 0
    assert client.get(CNVKIT, params={"start": 0}, headers=h).json()["count"] == 25
    one = client.get(CNVKIT, params={"instance-id": many[3]}, headers=h).json()
    assert one["count"] == 1 and one["instances"][0]["instance_id"] == many[3]
    outside = client.get(CNVKIT, params={"instance-id": many[3], "start": base + 100}, headers=h).json()
    assert outside == {"count": 0, "instances": []}


def test_pipeline_listing_pages_too(client, env):
    store = env.store()
    for i in range(12):
        record(store, "DNA_GERMLINE", start=1_650_000_000_000 + i)
    h = env.headers("alice")
    assert len(client.get(JOBS, headers=h).json()["jobs"]) == 10
    page = client.get(JOBS, params={"limit": 5, "offset": 10}, headers=h).json()
    assert page["job_count"] == 12 and len(page["jobs"]) == 2
    assert client.get(JOBS, params={"start": 1_650_000_000_011}, headers=h).json()["job_count"] == 1


# --------------------------------------------------------------------------------------------
# Statistics


def test_statistics_admin_and_user_views(client, env):
    store = env.store()
    t0 = 1_700_000_000_000
    a1 = record(store, owner="alice", start=t0, size=100)
    record(store, owner="alice", start=t0 + 1, size=10)
    b1 = record(store, owner="bob", start=t0 + 2, size=1000)
    record(store, "DNA_GERMLINE", owner="bea", start=t0 + 3, size=7)
    record(store, owner="bob", project="p2", start=t0 + 4, size=99999)  # another project
    store.claim(a1)
    store.transition(a1, Status.RUNNING)
    store.transition(a1, Status.FAILED, message="boom")
    store.request_cancel("p1", b1)

    admin = client.get(STATS, headers=env.headers("alice")).json()
    check_statistics(admin, admin=True)
    assert admin["total_user_num"] == 3
    assert admin["total_failed_num"] == 1 and admin["total_launching_num"] == 2
    assert admin["total_cancelled_num"] == 1 and admin["total_input_size"] == 1117
    assert [u["user_name"] for u in admin["users"]] == ["alice", "bea", "bob"]
    assert admin["users"][2] == {"user_name": "bob", "launching_num": 0, "running_num": 0, "failed_num": 0,
                                 "finished_num": 0, "canceling_num": 0, "cancelled_num": 1, "input_size": 1000}

    own = client.get(STATS, headers=env.headers("bob")).json()
    check_statistics(own, admin=False)
    assert own["total_cancelled_num"] == 1 and own["total_input_size"] == 1000 and own["total_launching_num"] == 0

    window = client.get(STATS, params={"start": t0 + 1, "end": t0 + 2}, headers=env.headers("alice")).json()
    check_statistics(window, admin=True)
    assert window["total_input_size"] == 1010 and window["total_user_num"] == 2
    nobody = client.get(STATS, params={"end": t0 - 1}, headers=env.headers("alice")).json()
    assert nobody["total_user_num"] == 0 and nobody["users"] == []
    own_empty = client.get("/v2.0/p2/gene/statistics", headers=env.headers("bea")).json()
    check_statistics(own_empty, admin=False)
    assert own_empty["total_input_size"] == 0


# --------------------------------------------------------------------------------------------
# The service around the endpoints


def test_openapi_document_and_docs(client):
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    expected = {
        "/v2.0/{project_id}/gene/tools/cnvkit": {"get", "post"},
        "/v2.0/{project_id}/gene/tools/cnvkit/{instance_id}": {"get", "delete"},
        "/v2.0/{project_id}/gene/tools/cnvkit/{instance_id}/log": {"get"},
        "/v2.0/{project_id}/gene/tools/cnvkit/{instance_id}/retry": {"post"},
        "/v2.0/{project_id}/gene/jobs": {"get", "post"},
        "/v2.0/{project_id}/gene/jobs/{job_id}": {"get", "delete"},
        "/v2.0/{project_id}/gene/jobs/{job_id}/log": {"get"},
        "/v2.0/{project_id}/gene/jobs/{job_id}/retry": {"post"},
        "/v2.0/{project_id}/gene/statistics": {"get"},
        "/health": {"get"},
    }
    assert {p: set(v) for p, v in paths.items()} == expected
    schemas = doc["components"]["schemas"]
    assert set(schemas["CnvkitBody"]["required"]) == {"experimental_inputs", "control_inputs", "output_dir", "ref", "bed"}
    assert schemas["CnvkitBody"]["additionalProperties"] is False
    for name in ("DnaGermlineBody", "DnaSomaticBody", "RnaDiffExprBody", "CnvkitListing", "PipelineListing",
                 "Statistics", "ErrorBody"):
        assert name in schemas
    post = paths["/v2.0/{project_id}/gene/tools/cnvkit"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CnvkitBody"}
    assert {"201", "400", "401", "403", "413", "500"} <= set(post["responses"])
    listing = paths["/v2.0/{project_id}/gene/tools/cnvkit"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"project_id", "instance-id", "limit", "offset", "start", "end"}
    assert doc["components"]["securitySchemes"]["token"] == {
        "type": "apiKey", "in": "header", "name": "X-Auth-Token",
        "description": doc["components"]["securitySchemes"]["token"]["description"]}
    assert "409" in paths["/v2.0/{project_id}/gene/jobs/{job_id}"]["delete"]["responses"]
    assert client.get("/docs").status_code == 200 and "swagger" in client.get("/docs").text.lower()
    assert client.get("/redoc").status_code == 200


def test_health_and_request_ids(client):
    reply = client.get("/health")
    assert reply.status_code == 200 and reply.json() == {"status": "ok", "version": "0.1.0", "identity": "users-file"}
    ids = {client.get("/health").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_unknown_routes_and_methods_answer_the_error_body(client, env):
    check_error(client.get("/v2.0/p1/gene/nothing", headers=env.headers("alice")), 404, "DLI.0404", "no such endpoint")
    reply = client.put(CNVKIT, headers=env.headers("alice"))
    check_error(reply, 405, "DLI.0405", "PUT is not allowed")
    assert reply.headers["allow"] == "GET, POST"


def test_a_bug_is_a_500_with_a_request_id_and_no_trace(client, env, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "list_cnvkit", broken)
    with caplog.at_level(logging.ERROR, logger="localgene.api"):
        reply = client.get(CNVKIT, headers=env.headers("alice"))
    body = check_error(reply, 500, "DLI.0999", "request id")
    rid = reply.headers["x-request-id"]
    assert rid in body["error_msg"] and "secret" not in body["error_msg"]
    logged = [r for r in caplog.records if rid in r.getMessage()]
    assert logged and logged[0].exc_info and "secret internals" in str(logged[0].exc_info[1])


def test_single_json_replies_are_compact_utf8(client, env):
    body = env.body(output_dir=str(env.inputs / "résultats"))
    instance_id = client.post(CNVKIT, json=body, headers=env.headers("alice")).json()["instance_id"]
    reply = client.get(CNVKIT, params={"instance-id": instance_id}, headers=env.headers("alice"))
    assert reply.headers["content-type"] == "application/json"
    assert json.loads(reply.content.decode("utf-8"))["instances"][0]["output_dir"].endswith("résultats")
