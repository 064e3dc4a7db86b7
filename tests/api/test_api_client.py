"""localgene.client over real HTTP (uvicorn in a thread), and the CLI's --server mode: the same
operations, the same exceptions, one clear line on failure."""

from __future__ import annotations

import json

import httpx
import pytest
from api_helpers import INPUT_SIZE, free_port

from localgene import cli
from localgene import errors as E
from localgene.client import Client, ServerUnreachable, error_from
from localgene.jobs.bodies import new_record
from localgene.jobs.status import Status


def test_client_operations(live, env, tmp_path, monkeypatch):
    from pipeline_helpers import no_pipelines

    monkeypatch.setenv("LOCALGENE_WORKFLOW_DIR", str(no_pipelines(tmp_path / "workflow")))
    with Client(live.url, env.tokens["alice"], project_id="p1") as api:
        assert api.health()["status"] == "ok"
        instance_id = api.submit_cnvkit(env.body())
        listing = api.list_cnvkit()
        assert listing["count"] == 1 and listing["instances"][0]["instance_id"] == instance_id
        assert api.list_cnvkit(instance_id=instance_id, limit=5, offset=0, start=0)["count"] == 1
        detail = api.get_cnvkit(instance_id)
        assert detail["input_size"] == INPUT_SIZE and detail["progress"] == "0/0"
        assert api.log_cnvkit(instance_id, tail=5)["log"] == ""
        stats = api.statistics()
        assert stats["total_launching_num"] == 1 and stats["users"][0]["user_name"] == "alice"
        api.cancel_cnvkit(instance_id)
        assert api.get_cnvkit(instance_id)["status"] == "CANCELLED"
        with pytest.raises(E.StateConflict, match="CANCELLED"):
            api.cancel_cnvkit(instance_id)
        assert api.list_pipeline() == {"job_count": 0, "jobs": []}
        with pytest.raises(E.UnsupportedOption, match="pipeline is not available"):
            api.submit_pipeline({"job_type": "DNA_GERMLINE", "input": ["/a.bam"], "output": "/o.vcf",
                                 "file_type": "BAM", "ref": "hg38", "knownsites": ["k.vcf"]})
        pipe = new_record("p1", "alice", "DNA_GERMLINE", {"job_type": "DNA_GERMLINE"})
        env.store().submit(pipe)
        assert api.get_job(pipe.instance_id)["job_id"] == pipe.instance_id
        assert api.list_pipeline(job_type="DNA_GERMLINE")["job_count"] == 1
        api.cancel_job(pipe.instance_id)
        assert env.store().find(pipe.instance_id).status is Status.CANCELLED


def test_client_raises_the_localgene_exceptions(live, env):
    with Client(live.url, env.tokens["bob"], project_id="p1") as api:
        with pytest.raises(E.InvalidRequest, match=r"^bed: is required$"):
            api.submit_cnvkit({k: v for k, v in env.body().items() if k != "bed"})
        with pytest.raises(E.InputNotFound, match="does not exist"):
            api.submit_cnvkit(env.body(ref="/no/such.fa"))
        with pytest.raises(E.UnsupportedOption, match="shell syntax"):
            api.submit_cnvkit(env.body(call_conf="; reboot"))
        with pytest.raises(E.LimitExceeded, match="more than 1000 items"):
            api.submit_cnvkit(env.body(control_inputs=[f"/n{i}.bam" for i in range(1001)]))
        with pytest.raises(E.BodyTooLarge) as too_large:
            api.submit_cnvkit(env.body(call_conf=" " * (2 << 20)))
        assert too_large.value.http_status == 413 and too_large.value.code == "DLI.0009"
        with pytest.raises(E.JobNotFound):
            api.get_cnvkit("00000000-0000-4000-8000-000000000000")
        with pytest.raises(E.InvalidRequest, match="limit: must be an integer"):
            api.list_cnvkit(limit=0)
    with Client(live.url, env.tokens["bob"], project_id="p2") as api:
        with pytest.raises(E.AccessDenied, match="may not use project p2"):
            api.statistics()
    with Client(live.url, "wrong", project_id="p1") as api:
        with pytest.raises(E.AuthenticationError):
            api.list_cnvkit()
    with Client(f"http://127.0.0.1:{free_port()}", "t", timeout=2) as api:
        with pytest.raises(ServerUnreachable, match="cannot reach"):
            api.health()


def test_error_from_unknown_bodies():
    assert isinstance(error_from(404, {"error_code": "DLI.0404", "error_msg": "no such endpoint"}), E.LocalgeneError)
    odd = error_from(502, "<html>bad gateway</html>")
    assert odd.http_status == 502 and "without an error body" in str(odd)
    assert type(error_from(409, {"error_code": "DLI.0409", "error_msg": "x"})) is E.StateConflict


@pytest.fixture
def remote(live, env, monkeypatch):
    monkeypatch.setenv("LOCALGENE_SERVER", live.url)
    monkeypatch.setenv("LOCALGENE_TOKEN", env.tokens["alice"])
    # the local store of this process is another one: --server must not touch it
    monkeypatch.setenv("LOCALGENE_HOME", str(env.home.parent / "other-home"))
    return live


def test_cli_commands_through_the_server(remote, env, tmp_path, capsys):
    job = tmp_path / "job.json"
    job.write_text(json.dumps(env.body(has_annotate=False)))
    assert cli.main(["submit", str(job), "--project", "p1"]) == 0
    out, err = capsys.readouterr()
    instance_id = out.strip()
    assert "annotation_file is ignored" in err
    assert env.store().find(instance_id).owner == "alice"  # the token's user, not --owner

    assert cli.main(["list", "--project", "p1", "--limit", "5"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["count"] == 1 and listing["instances"][0]["instance_id"] == instance_id
    assert cli.main(["list", "--project", "p1", "--table"]) == 0
    table = capsys.readouterr().out
    assert instance_id in table and "LAUNCHING" in table and "(1 of 1)" in table
    assert cli.main(["show", instance_id, "--project", "p1"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "LAUNCHING"
    assert cli.main(["stats", "--project", "p1"]) == 0
    assert json.loads(capsys.readouterr().out)["total_launching_num"] == 1
    assert cli.main(["logs", instance_id, "--project", "p1", "--tail", "3"]) == 0
    capsys.readouterr()
    assert cli.main(["cancel", instance_id, "--project", "p1"]) == 0
    assert capsys.readouterr().out.strip() == f"{instance_id}: CANCELLED"
    assert not (env.home.parent / "other-home" / "localgene.db").exists()

    # failures: one line, exit 2 for the caller's mistakes, 1 when the server is unreachable
    assert cli.main(["cancel", instance_id, "--project", "p1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("localgene cancel: error: ") and err.count("\n") == 1 and "CANCELLED" in err
    assert cli.main(["list", "--project", "p1", "--limit", "0"]) == 2
    assert "limit: must be an integer" in capsys.readouterr().err
    assert cli.main(["stats", "--project", "p1", "--token", "nope"]) == 2
    assert "invalid X-Auth-Token" in capsys.readouterr().err
    assert cli.main(["stats", "--project", "p1", "--server", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_cli_without_server_still_uses_the_local_store(env, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("LOCALGENE_SERVER", raising=False)
    monkeypatch.setenv("LOCALGENE_HOME", str(env.home))
    job = tmp_path / "job.json"
    job.write_text(json.dumps(env.body()))
    assert cli.main(["submit", str(job), "--project", "p9", "--owner", "zed"]) == 0
    instance_id = capsys.readouterr().out.strip()
    assert env.store().find(instance_id).owner == "zed"


def test_a_streamed_body_is_cut_at_the_limit_over_real_http(live, env):
    """No Content-Length (chunked): the size is counted as the bytes arrive."""
    sent = []

    def chunks():
        yield b'{"call_conf": "'
        for _ in range(40):
            sent.append(1)
            yield b" " * 65536
        yield b'"}'

    headers = {"X-Auth-Token": env.tokens["alice"], "Content-Type": "application/json"}
    before = env.snapshot()
    reply = httpx.post(f"{live.url}/v2.0/p1/gene/tools/cnvkit", content=chunks(), headers=headers, timeout=30)
    assert "content-length" not in reply.request.headers
    assert reply.status_code == 413 and reply.json()["error_code"] == "DLI.0009"
    assert env.snapshot() == before


def test_a_bug_over_real_http_is_the_500_body(live, env, monkeypatch):
    from localgene.jobs import service

    monkeypatch.setattr(service, "list_pipeline", lambda *a, **k: 1 / 0)
    reply = httpx.get(f"{live.url}/v2.0/p1/gene/jobs", headers={"X-Auth-Token": env.tokens["alice"]})
    assert reply.status_code == 500
    assert reply.json() == {"error_code": "DLI.0999", "error_msg": reply.json()["error_msg"]}
    assert reply.headers["x-request-id"] in reply.json()["error_msg"]
    assert "ZeroDivision" not in reply.text
