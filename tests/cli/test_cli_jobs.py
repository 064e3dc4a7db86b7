"""The job commands on the local store: `retry`, and `list`/`show` repairing what they read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from localgene import cli
from localgene import settings as settings_mod
from localgene.cli.identity import DEFAULT_PROJECT
from localgene.jobs.bodies import new_record
from localgene.jobs.status import Status
from localgene.store import Store

BODY = {"experimental_inputs": ["/x/T.bam"], "control_inputs": ["/x/N.bam"], "output_dir": "/x/o",
        "ref": "/x/g.fa", "bed": "/x/t.bed"}


@pytest.fixture
def store(tmp_path, monkeypatch):
    for name in ("LOCALGENE_PROJECT", "LOCALGENE_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCALGENE_HOME", str(tmp_path / "home"))
    return Store.open(settings_mod.load())


def job(store: Store, status: Status, message: str = "") -> str:
    rec = store.submit(new_record(DEFAULT_PROJECT, "me", "cnvkit", BODY))
    if status is not Status.LAUNCHING:
        assert store.claim(rec.instance_id, pid=1)  # pid 1 never goes away
        store.transition(rec.instance_id, Status.RUNNING)
        if status is not Status.RUNNING:
            store.transition(rec.instance_id, status, message=message)
    return rec.instance_id


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_retry_requeues_a_failed_job_and_refuses_a_finished_one(store, capsys):
    failed = job(store, Status.FAILED, "step 'fix' (sample=T1) failed: no space left")
    assert cli.main(["retry", failed]) == 0
    assert capsys.readouterr().out == f"{failed}: LAUNCHING\n"
    shown = store.find(failed)
    assert shown.status is Status.LAUNCHING
    assert shown.message == "retried (it was FAILED: step 'fix' (sample=T1) failed: no space left)"
    finished = job(store, Status.FINISHED)
    assert cli.main(["retry", finished]) == 2
    err = capsys.readouterr().err
    assert err == "localgene retry: error: job is FINISHED; only FAILED or CANCELLED jobs can be retried\n"
    assert store.find(finished).status is Status.FINISHED


def test_list_and_show_never_say_running_when_the_runner_is_gone(store, capsys, monkeypatch):
    monkeypatch.setenv("LOCALGENE_MAX_ATTEMPTS", "1")
    alive = job(store, Status.RUNNING)
    gone = job(store, Status.RUNNING)
    store.set_runner(gone, dead_pid())
    assert cli.main(["show", gone]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "FAILED" and shown["message"].startswith("runner died (pid ")
    assert cli.main(["list"]) == 0
    states = {i["instance_id"]: i["status"] for i in json.loads(capsys.readouterr().out)["instances"]}
    assert states == {alive: "RUNNING", gone: "FAILED"}
