"""End to end: `localgene serve` and `localgene worker` as real processes (LOCALGENE_HOME in a tmp
folder), users made with `localgene users add`, the demo job submitted over HTTP and watched
until FINISHED; every field of the listing checked against the spec; statistics before and
after; a second user's queued job cancelled; the results delivered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from api_helpers import free_port
from spec_checks import check_cnvkit_listing, check_error, check_instance, check_statistics

LOCALGENE = [sys.executable, "-m", "localgene"]
#: The demo job takes about a minute on 2 cores; allow for a busy machine.
JOB_TIMEOUT = 900


@pytest.fixture
def demo_dir(request) -> Path:
    """The demo data set: the suite's ``demo_data`` fixture when there is one, else generated
    here (cached in tests/.data/demo like the workflow tests' data)."""
    try:
        data = request.getfixturevalue("demo_data")
    except pytest.FixtureLookupError:
        from localgene.demo import cnvkit as demodata

        folder = Path(__file__).resolve().parents[1] / ".data" / "demo"
        demodata.generate(folder)
        return folder
    for candidate in (data, getattr(data, "path", None), getattr(data, "root", None), getattr(data, "dir", None)):
        if isinstance(candidate, (str, os.PathLike)) and (Path(candidate) / "job.json").is_file():
            return Path(candidate)
        if isinstance(candidate, (str, os.PathLike)) and Path(candidate).name == "job.json":
            return Path(candidate).parent
    raise AssertionError(f"cannot find job.json in the demo_data fixture's value {data!r}")


class Processes:
    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.env, self.procs = tmp, env, {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        proc = subprocess.Popen([*LOCALGENE, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.procs[name] = proc
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {name}.log\n" + (self.tmp / f"{name}.log").read_text(errors="replace")[-4000:]
                         for name in self.procs)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _users_add(env: dict[str, str], name: str, role: str) -> str:
    out = subprocess.run([*LOCALGENE, "users", "add", name, "--tenant", "lab", "--role", role,
                          "--project", "demo"], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.workflow
def test_serve_and_worker_run_the_demo_job(demo_dir: Path, tmp_path: Path):
    home = tmp_path / "home"
    env = {**os.environ, "LOCALGENE_HOME": str(home)}
    env.pop("LOCALGENE_USERS", None)
    env.pop("LOCALGENE_SERVER", None)
    tokens = {"alice": _users_add(env, "alice", "admin"), "bob": _users_add(env, "bob", "user")}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gene = f"{base}/v2.0/demo/gene"
    procs = Processes(tmp_path, env)
    body = json.loads((demo_dir / "job.json").read_text())
    body["output_dir"] = str(tmp_path / "delivered")
    instance_id = None
    alice = httpx.Client(headers={"X-Auth-Token": tokens["alice"]}, timeout=30)
    bob = httpx.Client(headers={"X-Auth-Token": tokens["bob"]}, timeout=30)
    try:
        # a users file: job bodies may name only files under the data roots (docs/api.md)
        procs.start("serve", "serve", "--port", str(port), "--data-root", str(demo_dir),
                    "--data-root", str(tmp_path))
        deadline = time.monotonic() + 60
        while True:
            assert procs.procs["serve"].poll() is None, procs.logs()
            try:
                if httpx.get(f"{base}/health", timeout=2).json()["identity"] == "users-file":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, procs.logs()
            time.sleep(0.2)

        before = alice.get(f"{gene}/statistics").json()
        check_statistics(before, admin=True)
        assert before["total_user_num"] == 0 and before["total_input_size"] == 0
        assert all(before[k] == 0 for k in before if k.endswith("_num"))

        reply = alice.post(f"{gene}/tools/cnvkit", json=body)
        assert reply.status_code == 201, reply.text
        instance_id = reply.json()["instance_id"]
        queued = bob.post(f"{gene}/tools/cnvkit", json=body).json()["instance_id"]
        procs.start("worker", "worker", "--slots", "1", "--cores", "2")

        # bob's job waits behind alice's (one slot): cancelling it ends it at once
        assert bob.delete(f"{gene}/tools/cnvkit/{queued}").json() == {}
        # bob sees only his own job; alice sees both
        assert [i["instance_id"] for i in bob.get(f"{gene}/tools/cnvkit").json()["instances"]] == [queued]
        check_error(bob.get(f"{gene}/tools/cnvkit/{instance_id}"), 403, "DLI.0403")

        seen, progress = set(), set()
        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            listing = alice.get(f"{gene}/tools/cnvkit", params={"instance-id": instance_id}).json()
            check_cnvkit_listing(listing)
            item = listing["instances"][0]
            seen.add(item["status"])
            progress.add(alice.get(f"{gene}/tools/cnvkit/{instance_id}").json()["progress"])
            if item["status"] in ("FINISHED", "FAILED", "CANCELLED"):
                break
            assert time.monotonic() < deadline, f"still {item['status']} after {JOB_TIMEOUT} s\n{procs.logs()}"
            time.sleep(2)
        assert item["status"] == "FINISHED", f"{item['message']}\n{procs.logs()}"
        assert seen <= {"LAUNCHING", "RUNNING", "FINISHED"} and "RUNNING" in seen, seen

        # the full listing: both jobs, every field of the spec, each of the right type
        listing = alice.get(f"{gene}/tools/cnvkit").json()
        check_cnvkit_listing(listing)
        assert listing["count"] == 2
        by_id = {i["instance_id"]: i for i in listing["instances"]}
        done = by_id[instance_id]
        check_instance(done, sent=body)
        assert done["owner"] == "alice" and done["message"] == "" and done["duration"] >= 1
        assert by_id[queued]["status"] == "CANCELLED" and by_id[queued]["owner"] == "bob"
        assert listing["instances"][0]["instance_id"] == queued  # newest first
        detail = alice.get(f"{gene}/tools/cnvkit/{instance_id}").json()
        done_steps, total_steps = map(int, detail["progress"].split("/"))
        assert done_steps == total_steps > 10
        assert len(progress) >= 2, progress

        after = alice.get(f"{gene}/statistics").json()
        check_statistics(after, admin=True)
        size = sum(Path(p).stat().st_size for p in [*body["experimental_inputs"], *body["control_inputs"],
                                                       body["ref"], body["bed"], body["annotation_file"]])
        assert after["total_finished_num"] == 1 and after["total_cancelled_num"] == 1
        assert after["total_user_num"] == 2 and after["total_launching_num"] == after["total_running_num"] == 0
        assert after["total_input_size"] == 2 * size
        assert [u["user_name"] for u in after["users"]] == ["alice", "bob"]
        own = bob.get(f"{gene}/statistics").json()
        check_statistics(own, admin=False)
        assert own["total_cancelled_num"] == 1 and own["total_finished_num"] == 0 and own["total_input_size"] == size

        # a final job cannot be cancelled; its log is there; its results were delivered
        check_error(alice.delete(f"{gene}/tools/cnvkit/{instance_id}"), 409, "DLI.0409", "FINISHED")
        log = alice.get(f"{gene}/tools/cnvkit/{instance_id}/log", params={"tail": 20}).json()["log"]
        assert "steps (100%) done" in log
        delivered = tmp_path / "delivered" / instance_id
        assert delivered.is_dir() and any(delivered.rglob("*.cns")), sorted(delivered.rglob("*"))[:20]
    finally:
        if instance_id is not None and procs.procs.get("worker") and procs.procs["worker"].poll() is None:
            status = alice.get(f"{gene}/tools/cnvkit/{instance_id}").json().get("status")
            if status in ("LAUNCHING", "RUNNING"):
                alice.delete(f"{gene}/tools/cnvkit/{instance_id}")
                for _ in range(60):
                    if alice.get(f"{gene}/tools/cnvkit/{instance_id}").json().get("status") != "CANCELING":
                        break
                    time.sleep(1)
        alice.close()
        bob.close()
        procs.stop()
