"""Every job command run both ways, on the local store and through a server over the same store
(``--server``, a tenant administrator's token): the same output, line for line where the two
sources hold the same facts, and the same exit codes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))  # the API tests' helpers

from api_helpers import USERS, Env, LiveServer, make_inputs  # noqa: E402

from localgene import cli  # noqa: E402
from localgene import settings as settings_mod  # noqa: E402
from localgene.api import users as users_mod  # noqa: E402
from localgene.api.app import ApiSettings, create_app  # noqa: E402
from localgene.client import Client  # noqa: E402
from localgene.jobs.bodies import new_record  # noqa: E402
from localgene.jobs.interface import JobService, LocalJobService  # noqa: E402

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> Env:
    home = tmp_path / "home"
    for name in ("LOCALGENE_SERVER", "LOCALGENE_TOKEN", "LOCALGENE_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCALGENE_HOME", str(home))  # the local commands' store is the server's
    cfg = settings_mod.load({"LOCALGENE_HOME": str(home)}).ensure_dirs()
    tokens = {}
    for name, tenant, role, projects in USERS:
        _, tokens[name] = users_mod.add_user(home / "users.yaml", name, tenant=tenant, role=role, projects=projects)
    return Env(home, cfg, home / "users.yaml", tokens, make_inputs(tmp_path / "inputs"))


@pytest.fixture
def server(env: Env):
    app = create_app(ApiSettings(env.cfg, users_path=env.users_path, data_roots=(Path("/"),)))
    with LiveServer(app) as live:
        yield live


class Both:
    """Runs one command locally and through the server (as alice, acme's administrator, who sees
    every job of p1 as the local commands do)."""

    def __init__(self, env: Env, server: LiveServer, capsys):
        self.env, self.capsys = env, capsys
        self.remote = ["--server", server.url, "--token", env.tokens["alice"]]

    def run(self, *argv: str, remote: bool) -> tuple[int, str, str]:
        args = [*argv, "--project", "p1"] + (self.remote if remote else ["--owner", "alice"])
        code = cli.main(args)
        out, err = self.capsys.readouterr()
        return code, out, err

    def both(self, *argv: str) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
        return self.run(*argv, remote=False), self.run(*argv, remote=True)


def _no_times(listing: dict) -> dict:
    items = listing.get("instances", listing.get("jobs", []))
    return {**listing, "items": [{k: v for k, v in i.items() if k != "duration"} for i in items],
            "instances": None, "jobs": None}


def test_each_command_gives_the_same_output_both_ways(env: Env, server: LiveServer, capsys, tmp_path: Path):
    run = Both(env, server, capsys)
    job = tmp_path / "job.json"
    job.write_text(json.dumps(env.body(has_annotate=False, annotation_file="/ignored.txt")))

    # submit: one id on stdout, the same warnings on stderr
    (lcode, lout, lerr), (rcode, rout, rerr) = run.both("submit", str(job))
    assert lcode == rcode == 0
    local_id, remote_id = lout.strip(), rout.strip()
    assert UUID.fullmatch(local_id) and UUID.fullmatch(remote_id) and local_id != remote_id
    assert lerr == rerr and "annotation_file is ignored" in lerr
    store = env.store()
    assert store.find(local_id).owner == store.find(remote_id).owner == "alice"
    pipeline = store.submit(new_record("p1", "alice", "DNA_GERMLINE", {"job_type": "DNA_GERMLINE", "input": []}))

    # list (JSON): the same listing but for the running durations
    (lcode, lout, _), (rcode, rout, _) = run.both("list", "--limit", "5")
    assert lcode == rcode == 0
    local, remote = json.loads(lout), json.loads(rout)
    assert local["count"] == 2 and _no_times(local) == _no_times(remote)
    assert [i["instance_id"] for i in local["instances"]] == [remote_id, local_id]  # newest first
    (_, lout, _), (_, rout, _) = run.both("list", "--job-type", "DNA_GERMLINE")
    assert _no_times(json.loads(lout)) == _no_times(json.loads(rout))
    assert json.loads(lout)["jobs"][0]["job_id"] == pipeline.instance_id
    (_, lout, _), (_, rout, _) = run.both("list", "--instance-id", local_id.upper())
    assert _no_times(json.loads(lout)) == _no_times(json.loads(rout))
    assert json.loads(lout)["count"] == 1
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{local_id}\n# a comment\n")
    (_, lout, _), (_, rout, _) = run.both("list", "--ids", str(ids))
    assert _no_times(json.loads(lout)) == _no_times(json.loads(rout)) and json.loads(lout)["count"] == 1

    # list --table: the same rows (the API's listing has no progress: "-" through the server)
    (lcode, lout, _), (rcode, rout, _) = run.both("list", "--table")
    assert lcode == rcode == 0
    local_rows, remote_rows = lout.splitlines(), rout.splitlines()
    assert local_rows[0] == remote_rows[0] and local_rows[-1] == remote_rows[-1] == "(2 of 2)"
    for lrow, rrow in zip(local_rows[1:-1], remote_rows[1:-1], strict=True):
        lcols, rcols = lrow.split(), rrow.split()
        assert lcols[:2] == rcols[:2] and lcols[4:] == rcols[4:] and rcols[2] == "-"

    # show: the server's item; the local one adds the job's folder
    for job_id in (local_id, pipeline.instance_id):
        (lcode, lout, _), (rcode, rout, _) = run.both("show", job_id)
        assert lcode == rcode == 0
        local, remote = json.loads(lout), json.loads(rout)
        assert local.pop("job_dir") == str(env.cfg.job_dir(job_id))
        assert {k: v for k, v in local.items() if k in remote and k != "duration"} == \
            {k: v for k, v in remote.items() if k != "duration"}
    assert set(json.loads(run.run("show", local_id, remote=True)[1])) == \
        set(json.loads(run.run("show", local_id, remote=False)[1])) - {"job_dir"}

    # stats: the same figures (every user's, with `users`)
    (lcode, lout, _), (rcode, rout, _) = run.both("stats")
    assert lcode == rcode == 0 and json.loads(lout) == json.loads(rout)
    assert json.loads(lout)["total_launching_num"] == 3 and json.loads(lout)["users"][0]["user_name"] == "alice"

    # logs: the same tail
    log = env.cfg.job_dir(local_id) / "logs" / "snakemake.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("one\ntwo\nthree\n")
    (lcode, lout, _), (rcode, rout, _) = run.both("logs", local_id, "--tail", "2")
    assert lcode == rcode == 0 and lout == rout == "two\nthree\n"

    # cancel, then retry: "<id>: <status>", and the same refusal (exit 2) when the state forbids it
    for job_id in (local_id, pipeline.instance_id):
        code, out, _ = run.run("cancel", job_id, remote=job_id == local_id)
        assert code == 0 and out == f"{job_id}: CANCELLED\n"
    (lcode, _, lerr), (rcode, _, rerr) = run.both("cancel", local_id)
    assert lcode == rcode == 2 and lerr == rerr and lerr.startswith("localgene cancel: error: ")
    code, out, _ = run.run("retry", local_id, remote=False)
    assert code == 0 and out == f"{local_id}: LAUNCHING\n"
    code, out, _ = run.run("retry", pipeline.instance_id, remote=True)
    assert code == 0 and out == f"{pipeline.instance_id}: LAUNCHING\n"

    # the caller's mistakes: exit 2 and the same one line both ways
    unknown = "00000000-0000-4000-8000-000000000000"
    for argv in (("show", unknown), ("logs", unknown), ("list", "--limit", "0"), ("stats", "--start", "x")):
        (lcode, _, lerr), (rcode, _, rerr) = run.both(*argv)
        assert lcode == rcode == 2 and lerr == rerr and lerr.count("\n") == 1, argv


def test_both_services_implement_the_interface(env: Env, server: LiveServer):
    local = LocalJobService.open(project_id="p1", owner="alice")
    with Client(server.url, env.tokens["alice"], project_id="p1") as remote:
        for service in (local, remote):
            assert isinstance(service, JobService)
            assert service.listing().body == {"count": 0, "instances": []}
            assert service.statistics()["total_user_num"] == 0
