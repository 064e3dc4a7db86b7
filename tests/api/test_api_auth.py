"""Identity: tokens, projects, tenants, roles; the users file and `localgene users`; the single
local user; `localgene serve` refusing a non-loopback address without a users file."""

from __future__ import annotations

import os
import stat
import uuid

import pytest
from api_helpers import Env
from fastapi.testclient import TestClient
from spec_checks import check_error, check_statistics

from localgene import cli
from localgene.api import users as users_mod
from localgene.api.app import ApiSettings, create_app
from localgene.cli.serve import is_loopback
from localgene.errors import InvalidRequest
from localgene.jobs.bodies import new_record

CNVKIT = "/v2.0/{p}/gene/tools/cnvkit"
ID = str(uuid.UUID(int=7, version=4))

#: Every gene endpoint (method, path template).
ENDPOINTS = [
    ("POST", CNVKIT),
    ("GET", CNVKIT),
    ("GET", CNVKIT + "/" + ID),
    ("DELETE", CNVKIT + "/" + ID),
    ("GET", CNVKIT + "/" + ID + "/log"),
    ("POST", CNVKIT + "/" + ID + "/retry"),
    ("POST", "/v2.0/{p}/gene/jobs"),
    ("GET", "/v2.0/{p}/gene/jobs"),
    ("GET", "/v2.0/{p}/gene/jobs/" + ID),
    ("DELETE", "/v2.0/{p}/gene/jobs/" + ID),
    ("GET", "/v2.0/{p}/gene/jobs/" + ID + "/log"),
    ("POST", "/v2.0/{p}/gene/jobs/" + ID + "/retry"),
    ("GET", "/v2.0/{p}/gene/statistics"),
]


def _call(client, method, path, env: Env, **kw):
    body = env.body() if method == "POST" and "cnvkit" in path else {"job_type": "DNA_GERMLINE"}
    return client.request(method, path.format(p="p1"), json=body if method == "POST" else None, **kw)


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_no_token_or_a_wrong_one_is_401(client, env, method, path):
    before = env.snapshot()
    reply = _call(client, method, path, env)
    check_error(reply, 401, "DLI.0013", "missing X-Auth-Token")
    assert reply.headers["www-authenticate"].startswith("ApiKey")
    for token in ("nope", env.tokens["alice"] + "x", env.tokens["alice"][:-1], " ", "lg_" + "A" * 43):
        check_error(_call(client, method, path, env, headers={"X-Auth-Token": token}), 401, "DLI.0013")
    assert env.snapshot() == before


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_a_project_the_user_may_not_use_is_403(client, env, method, path):
    before = env.snapshot()
    for user, project in (("bob", "p2"), ("carol", "p1"), ("dora", "p1"), ("alice", "q1")):
        reply = client.request(method, path.format(p=project), headers=env.headers(user),
                               json=env.body() if method == "POST" else None)
        check_error(reply, 403, "DLI.0403", f"user {user} may not use project {project}")
    assert env.snapshot() == before


def _jobs(env: Env):
    store = env.store()
    ids = {}
    for owner, project in (("alice", "p1"), ("bob", "p1"), ("bea", "p1"), ("bea", "p2")):
        rec = new_record(project, owner, "cnvkit", {"experimental_inputs": ["/a.bam"], "control_inputs": ["/b.bam"],
                                                      "output_dir": "/o", "ref": "/r.fa", "bed": "/t.bed"})
        store.submit(rec)
        ids[(owner, project)] = rec.instance_id
    pipe = new_record("p1", "bob", "DNA_GERMLINE", {"job_type": "DNA_GERMLINE"})
    store.submit(pipe)
    ids[("bob", "pipe")] = pipe.instance_id
    return ids


def test_ordinary_users_see_only_their_own_jobs_and_admins_see_all(client, env):
    ids = _jobs(env)
    url = CNVKIT.format(p="p1")
    mine = client.get(url, headers=env.headers("bob")).json()
    assert mine["count"] == 1 and mine["instances"][0]["instance_id"] == ids[("bob", "p1")]
    everyone = client.get(url, headers=env.headers("alice")).json()
    assert everyone["count"] == 3 and {i["owner"] for i in everyone["instances"]} == {"alice", "bob", "bea"}
    # the instance-id filter of an ordinary user does not reach another user's job
    assert client.get(url, params={"instance-id": ids[("alice", "p1")]}, headers=env.headers("bob")).json() == \
        {"count": 0, "instances": []}
    assert client.get("/v2.0/p1/gene/jobs", headers=env.headers("bea")).json()["job_count"] == 0
    assert client.get("/v2.0/p1/gene/jobs", headers=env.headers("alice")).json()["job_count"] == 1


def test_another_users_job_is_403_for_an_ordinary_user_and_open_to_the_admin(client, env):
    ids = _jobs(env)
    alices = ids[("alice", "p1")]
    before = env.snapshot()
    for method, suffix in (("GET", ""), ("DELETE", ""), ("GET", "/log")):
        reply = client.request(method, f"{CNVKIT.format(p='p1')}/{alices}{suffix}", headers=env.headers("bob"))
        check_error(reply, 403, "DLI.0403", "belongs to another user")
    for method, suffix in (("GET", ""), ("DELETE", ""), ("GET", "/log")):
        reply = client.request(method, f"/v2.0/p1/gene/jobs/{ids[('bob', 'pipe')]}{suffix}", headers=env.headers("bea"))
        check_error(reply, 403, "DLI.0403", "belongs to another user")
    assert env.snapshot() == before
    # the tenant's administrator reads and cancels any user's job of the project
    bobs = ids[("bob", "p1")]
    assert client.get(f"{CNVKIT.format(p='p1')}/{bobs}", headers=env.headers("alice")).json()["owner"] == "bob"
    assert client.delete(f"{CNVKIT.format(p='p1')}/{bobs}", headers=env.headers("alice")).json() == {}
    assert env.store().find(bobs).status.value == "CANCELLED"


def test_a_job_of_another_project_is_403_even_for_the_admin(client, env):
    ids = _jobs(env)
    other = ids[("bea", "p2")]
    before = env.snapshot()
    for method in ("GET", "DELETE"):
        reply = client.request(method, f"{CNVKIT.format(p='p1')}/{other}", headers=env.headers("alice"))
        check_error(reply, 403, "DLI.0403", "belongs to another project")
    # another tenant's project is refused before any job is looked at
    check_error(client.get(f"{CNVKIT.format(p='p1')}/{other}", headers=env.headers("dora")), 403, "DLI.0403",
                "may not use project p1")
    listing = client.get(CNVKIT.format(p="p2"), headers=env.headers("alice")).json()
    assert [i["instance_id"] for i in listing["instances"]] == [other]
    assert env.snapshot() == before


def test_statistics_by_role(client, env):
    _jobs(env)
    admin = client.get("/v2.0/p1/gene/statistics", headers=env.headers("alice")).json()
    check_statistics(admin, admin=True)
    assert [u["user_name"] for u in admin["users"]] == ["alice", "bea", "bob"]
    assert admin["total_launching_num"] == 4
    for user, launching in (("bob", 2), ("bea", 1)):
        own = client.get("/v2.0/p1/gene/statistics", headers=env.headers(user)).json()
        check_statistics(own, admin=False)
        assert own["total_launching_num"] == launching
    globex = client.get("/v2.0/q1/gene/statistics", headers=env.headers("dora")).json()
    assert globex["total_user_num"] == 0 and globex["users"] == []


def test_users_added_or_removed_while_serving_take_effect_at_once(client, env):
    url = CNVKIT.format(p="p1")
    _, token = users_mod.add_user(env.users_path, "eve", tenant="acme", role="user", projects=["p1"])
    assert client.get(url, headers={"X-Auth-Token": token}).status_code == 200
    users_mod.remove_user(env.users_path, "bob")
    check_error(client.get(url, headers=env.headers("bob")), 401, "DLI.0013")
    # a broken edit keeps the last good users in force
    env.users_path.write_text(env.users_path.read_text() + "\n  broken: [\n")
    assert client.get(url, headers={"X-Auth-Token": token}).status_code == 200


def test_single_local_user_without_a_users_file(env):
    app = create_app(ApiSettings(env.cfg, users_path=None, local_user="localuser"))
    with TestClient(app) as client:
        assert client.get("/health").json()["identity"] == "single-user"
        reply = client.post(CNVKIT.format(p="anything"), json=env.body())
        assert reply.status_code == 201
        item = client.get(CNVKIT.format(p="anything"), headers={"X-Auth-Token": "ignored"}).json()["instances"][0]
        assert item["owner"] == "localuser"
        stats = client.get("/v2.0/anything/gene/statistics").json()
        check_statistics(stats, admin=True)
        check_error(client.get(CNVKIT.format(p="bad project")), 400, "DLI.0001", "project_id")


def test_serve_refuses_a_non_loopback_address_without_a_users_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOCALGENE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOCALGENE_USERS", raising=False)
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        assert cli.main(["serve", "--host", host, "--port", "0"]) == 2
        err = capsys.readouterr().err
        assert "refusing to listen on" in err and "localgene users add" in err and err.count("\n") == 1
    assert cli.main(["serve", "--users", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["serve", "--port", "99999"]) == 2
    assert "--port" in capsys.readouterr().err
    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "0.0.0.0", "::")] == \
        [True, True, True, True, True, False, False]


# --------------------------------------------------------------------------------------------
# The users file and `localgene users`


def test_users_cli_add_list_remove(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOCALGENE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOCALGENE_USERS", raising=False)
    assert cli.main(["users", "add", "alice", "--tenant", "acme", "--role", "admin", "--project", "p1",
                     "--project", "p2"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert out.count("\n") == 1 and token.startswith("lg_") and len(token) == 46
    assert "shown only this once" in err
    path = tmp_path / "home" / "users.yaml"
    text = path.read_text()
    assert token not in text and users_mod.hash_token(token) in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    users = users_mod.read_users(path)
    assert users["alice"].projects == ("p1", "p2") and users["alice"].role == "admin"
    assert users_mod.UsersFile(path).authenticate(token).name == "alice"

    assert cli.main(["users", "add", "alice", "--project", "p1"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["users", "add", "mallory", "--tenant", "evil", "--project", "p1"]) == 2
    assert "belongs to tenant 'acme'" in capsys.readouterr().err
    assert cli.main(["users", "add", "bad name", "--project", "p1"]) == 2
    assert cli.main(["users", "add", "x", "--project", "a/b"]) == 2
    capsys.readouterr()

    assert cli.main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "alice" in listing and "acme" in listing and users_mod.hash_token(token) not in listing
    assert cli.main(["users", "list", "--json"]) == 0
    assert '"user_name": "alice"' in capsys.readouterr().out

    assert cli.main(["users", "remove", "alice"]) == 0
    assert users_mod.read_users(path) == {}
    assert cli.main(["users", "remove", "alice"]) == 2


def test_toml_users_file(tmp_path):
    path = tmp_path / "users.toml"
    _, token = users_mod.add_user(path, "ann", tenant="t1", role="user", projects=["*"])
    users_mod.add_user(path, "ben", tenant="t1", role="admin", projects=["x.1", "y-2"])
    assert path.read_text().startswith("# localgene users")
    users = users_mod.read_users(path)
    assert users["ann"].projects == ("*",) and users["ben"].projects == ("x.1", "y-2")
    caller = users_mod.UsersFile(path).authenticate(token)
    assert caller.may_use("any-project") and not caller.is_admin


@pytest.mark.parametrize("text,needle", [
    ("users: [1, 2]", "mapping 'users'"),
    ("users:\n  a:\n    tenant: t\n    role: root\n    projects: [p]\n    token_sha256: " + "0" * 64, "role"),
    ("users:\n  a:\n    tenant: t\n    role: user\n    projects: []\n    token_sha256: " + "0" * 64, "projects"),
    ("users:\n  a:\n    tenant: t\n    role: user\n    projects: [p]\n    token_sha256: abc", "token_sha256"),
    ("users:\n  a:\n    tenant: t\n    role: user\n    projects: [p]\n    token: secret", "unknown key"),
    ("users: {a: [\n", "not valid YAML"),
])
def test_a_broken_users_file_stops_the_server_with_its_reason(env, text, needle):
    env.users_path.write_text(text)
    with pytest.raises(InvalidRequest, match=needle.replace("[", r"\[")):
        create_app(ApiSettings(env.cfg, users_path=env.users_path))


@pytest.mark.parametrize("users", [True, False], ids=["users-file", "single-local-user"])
def test_allow_path_keeps_job_bodies_inside_the_given_folders(env, tmp_path, users):
    # With a users file --allow-path folders are data roots (403 DLI.0012, test_api_data_roots.py);
    # the single local user keeps the 400 DLI.0011 of --allow-path.
    app = create_app(ApiSettings(env.cfg, users_path=env.users_path if users else None,
                                 allowed_paths=(env.inputs,)))
    status, code, words = (403, "DLI.0012", "outside the data roots") if users else \
        (400, "DLI.0011", "outside the folders this server may use")
    outside = tmp_path / "secret.fa"
    outside.write_text(">x\nACGT\n")
    (env.inputs / "link.fa").symlink_to(outside)
    with TestClient(app) as client:
        h = env.headers("alice")
        assert client.post(CNVKIT.format(p="p1"), json=env.body(), headers=h).status_code == 201
        before = env.snapshot()
        for fields, name in (({"ref": str(outside)}, "ref"), ({"ref": str(env.inputs / "link.fa")}, "ref"),
                             ({"output_dir": str(tmp_path / "elsewhere")}, "output_dir"),
                             ({"bed": str(env.inputs / ".." / "secret.fa")}, "bed"),
                             ({"control_inputs": [str(env.inputs / "N1.bam"), "file://" + str(outside)]},
                              "control_inputs[1]")):
            reply = client.post(CNVKIT.format(p="p1"), json=env.body(**fields), headers=h)
            check_error(reply, status, code, f"{name}: ", words)
        assert env.snapshot() == before
    with pytest.raises(InvalidRequest, match="not a folder"):
        create_app(ApiSettings(env.cfg, users_path=env.users_path, allowed_paths=(tmp_path / "missing",)))
