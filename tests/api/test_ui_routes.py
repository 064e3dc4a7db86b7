"""The job browser's server side (localgene/api/routes/ui.py): the page and its files ship with
the package, and its JSON shows each user exactly what the gene API shows them."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from spec_checks import check_error

CNVKIT = "/v2.0/{p}/gene/tools/cnvkit"


def submit(client, env, user, project="p1"):
    reply = client.post(CNVKIT.format(p=project), json=env.body(), headers=env.headers(user))
    assert reply.status_code == 201, reply.text
    return reply.json()["instance_id"]


def ui_ids(client, env, user, project="p1", **params):
    reply = client.get(f"/ui/api/{project}/jobs", params=params, headers=env.headers(user))
    assert reply.status_code == 200, reply.text
    return reply.json()


def api_ids(client, env, user, project="p1", **params):
    reply = client.get(CNVKIT.format(p=project), params=params, headers=env.headers(user))
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_page_and_its_files_are_served_from_the_package(client):
    page = client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    refs = [r for r in re.findall(r'(?:src|href)="([^"]+)"', page.text) if not r.startswith("#")]
    assert refs and all(r.startswith("/ui/static/") for r in refs), refs  # nothing from a CDN
    for ref in refs:
        reply = client.get(ref)
        assert reply.status_code == 200 and reply.content
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
    for name in ("..%2Fapp.py", "nope.js", "__init__.py"):
        check_error(client.get(f"/ui/static/{name}"), 404, "DLI.0404")
    for name in ("ui.js", "ui.css", "index.html"):
        text = resources.files("localgene.api").joinpath("ui", name).read_text()
        assert not re.search(r"https?://", text.replace("http://www.w3.org", "")), name


def test_ui_routes_are_not_part_of_the_gene_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]


def test_whoami_needs_the_token(client, env):
    check_error(client.get("/ui/api/whoami"), 401, "DLI.0013")
    me = client.get("/ui/api/whoami", headers=env.headers("bob")).json()
    assert me["name"] == "bob" and me["role"] == "user" and me["projects"] == ["p1"]
    assert me["statuses"] == ["LAUNCHING", "RUNNING", "FINISHED", "FAILED", "CANCELING", "CANCELLED"]


def test_each_user_sees_exactly_what_the_api_shows_them(client, env):
    mine = [submit(client, env, "bob") for _ in range(3)]
    theirs = [submit(client, env, "bea") for _ in range(2)]
    for user, expected in (("bob", mine), ("bea", theirs), ("alice", mine + theirs)):
        ui = ui_ids(client, env, user, limit=100)
        api = api_ids(client, env, user, limit=100)
        assert [j["id"] for j in ui["jobs"]] == [j["instance_id"] for j in api["instances"]]
        assert set(j["id"] for j in ui["jobs"]) == set(expected) and ui["count"] == api["count"]
    # One job: the API's answer for another user's job is the browser's answer too.
    for path in ("", "/log", "/report"):
        check_error(client.get(f"/ui/api/p1/jobs/{theirs[0]}{path}", headers=env.headers("bob")), 403, "DLI.0403")
    check_error(client.delete(f"/ui/api/p1/jobs/{theirs[0]}", headers=env.headers("bob")), 403, "DLI.0403")
    check_error(client.get("/ui/api/p2/jobs", headers=env.headers("bob")), 403, "DLI.0403")
    check_error(client.get("/ui/api/p1/jobs", headers=env.headers("carol")), 403, "DLI.0403")
    assert client.get(f"/ui/api/p1/jobs/{theirs[0]}", headers=env.headers("alice")).status_code == 200


def test_paging_follows_the_api_rules(client, env):
    ids = [submit(client, env, "bob") for _ in range(5)]
    for limit, offset in ((2, 0), (2, 2), (2, 4), (3, 4), (10, 7)):
        ui = ui_ids(client, env, "bob", limit=limit, offset=offset)
        api = api_ids(client, env, "bob", limit=limit, offset=offset)
        assert [j["id"] for j in ui["jobs"]] == [j["instance_id"] for j in api["instances"]]
        assert ui["count"] == 5
    for params in ({"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"limit": "x"}):
        name = next(iter(params))
        a = client.get(CNVKIT.format(p="p1"), params=params, headers=env.headers("bob"))
        b = client.get("/ui/api/p1/jobs", params=params, headers=env.headers("bob"))
        assert b.status_code == a.status_code == 400 and b.json() == a.json(), name
    check_error(client.get("/ui/api/p1/jobs", params={"lmit": "2"}, headers=env.headers("bob")), 400, "DLI.0001",
                "did you mean 'limit'")
    assert len(ids) == 5


def test_state_and_type_filters(client, env):
    ids = [submit(client, env, "bob") for _ in range(4)]
    for victim in ids[:3]:
        assert client.delete(f"/ui/api/p1/jobs/{victim}", headers=env.headers("bob")).json()["status"] == "CANCELLED"
    cancelled = ui_ids(client, env, "bob", status="CANCELLED", limit=2)
    assert cancelled["count"] == 3 and len(cancelled["jobs"]) == 2
    assert {j["status"] for j in cancelled["jobs"]} == {"CANCELLED"}
    rest = ui_ids(client, env, "bob", status="CANCELLED", limit=2, offset=2)
    assert [j["id"] for j in cancelled["jobs"] + rest["jobs"]] == list(reversed(ids[:3]))
    assert [j["id"] for j in ui_ids(client, env, "bob", status="LAUNCHING")["jobs"]] == [ids[3]]
    assert ui_ids(client, env, "bob", type="CNVKIT")["count"] == 4
    assert ui_ids(client, env, "bob", type="DNA_GERMLINE")["count"] == 0
    check_error(client.get("/ui/api/p1/jobs", params={"status": "DONE"}, headers=env.headers("bob")), 400,
                "DLI.0001", "status: must be one of LAUNCHING")
    check_error(client.get("/ui/api/p1/jobs", params={"type": "cnvkit"}, headers=env.headers("bob")), 400,
                "DLI.0001", "type: must be one of CNVKIT")


def test_one_job_its_log_cancel_and_report(client, env):
    job = submit(client, env, "bob")
    item = client.get(f"/ui/api/p1/jobs/{job}", headers=env.headers("bob")).json()
    assert item["status"] == "LAUNCHING" and item["cancellable"] and item["owner"] == "bob"
    assert item["has_report"] is False and item["type"] == "CNVKIT"
    assert client.get(f"/ui/api/p1/jobs/{job}/log", headers=env.headers("bob")).json()["log"] == ""
    check_error(client.get(f"/ui/api/p1/jobs/{job}/report", headers=env.headers("bob")), 404, "DLI.0023",
                "has no report yet")
    assert client.delete(f"/ui/api/p1/jobs/{job}", headers=env.headers("bob")).json()["status"] == "CANCELLED"
    api = client.get(CNVKIT.format(p="p1") + f"/{job}", headers=env.headers("bob")).json()
    assert api["status"] == "CANCELLED"
    check_error(client.delete(f"/ui/api/p1/jobs/{job}", headers=env.headers("bob")), 409, "DLI.0409")
    check_error(client.get("/ui/api/p1/jobs/not-a-uuid", headers=env.headers("bob")), 404, "DLI.0023")

    report = env.cfg.job_dir(job) / "results" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<!DOCTYPE html><title>r</title>")
    reply = client.get(f"/ui/api/p1/jobs/{job}/report", headers=env.headers("bob"))
    assert reply.status_code == 200 and reply.text == report.read_text()
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    assert client.get(f"/ui/api/p1/jobs/{job}", headers=env.headers("bob")).json()["has_report"] is True


@pytest.mark.parametrize("path", ["/ui/api/p1/jobs", "/ui/api/whoami"])
def test_wrong_token_is_401(client, path):
    check_error(client.get(path, headers={"X-Auth-Token": "lg_nope"}), 401, "DLI.0013")
