"""A CNVkit step server started before its job folder exists (localgene.cnvkit.server_early).

Real servers (CNVkit imported in them), real CNVkit steps through
:func:`localgene.cnvkit.step.run_cnvkit`; nothing a job refuses or never reaches leaves a process
or a file behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from localgene.cnvkit import server as cnvkit_server
from localgene.cnvkit import server_early, server_process
from localgene.cnvkit.step import ENV_SERVER, ENV_WARM, run_cnvkit
from localgene.run import timeline

PATIENCE = 120.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop(ENV_WARM, None)
    return env


def test_a_server_started_before_its_folder_serves_the_job_as_any_other(tmp_path, monkeypatch):
    elsewhere = tmp_path / "started-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    early = server_early.start(_env())
    assert early is not None
    job = tmp_path / "job"
    job.mkdir()
    env = _env()
    server = server_process.start(job, env, local=True, early=early)
    assert server is not None and server.proc is early.proc  # the same process, given its folder
    try:
        sock = Path(env[ENV_SERVER])
        assert sock == job / cnvkit_server.SOCKET and sock.is_socket() and sock.stat().st_mode & 0o777 == 0o600
        monkeypatch.chdir(job)
        assert run_cnvkit(["version"], "v.log", step="version", env=env) == 0
        assert Path("v.log").read_text() == f"$ cnvkit.py version\n{version('cnvkit')}\n"
        (record,) = timeline.read()
        assert record["runner"] == "server"
        assert Path(f"/proc/{server.proc.pid}/cwd").resolve() == job.resolve()
    finally:
        server.stop()
    assert server.proc.returncode == 0 and not sock.exists()
    said = (job / cnvkit_server.LOG).read_text()
    assert "started before the job folder was written" in said and "imported CNVkit in" in said
    assert "stopped" in said
    assert list(elsewhere.iterdir()) == []  # nothing written where it was started


def test_a_server_whose_job_never_comes_exits_and_writes_nothing(tmp_path):
    early = server_early.start(_env())
    assert early is not None
    early.proc.stdin.close()  # what the job process's end looks like to it
    assert early.proc.wait(timeout=PATIENCE) == 0
    assert list(tmp_path.iterdir()) == []


def test_a_discarded_server_is_gone_at_once(tmp_path):
    early = server_early.start(_env())
    early.discard()
    assert early.proc.returncode is not None
    early.discard()  # twice is harmless (the job process ends it at the end in any case)


def test_no_early_server_where_steps_use_none():
    env = _env()
    assert server_early.start(dict(env, **{ENV_WARM: "0"})) is None
    assert server_early.start(env, local=False) is None
    assert server_early.start(env, snakemake_args=["--use-conda"]) is None


def test_a_job_that_uses_no_server_ends_the_early_one(tmp_path):
    early = server_early.start(_env())
    env = _env()
    assert server_process.start(tmp_path, env, local=False, early=early) is None
    assert early.proc.returncode is not None and ENV_SERVER not in env


def _servers_of(home: Path) -> list[int]:
    """Live processes of the step server whose environment names this LOCALGENE_HOME."""
    found = []
    marker = f"LOCALGENE_HOME={home}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"localgene.cnvkit.server" in cmdline and marker in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


def test_localgene_run_refusing_a_job_leaves_no_server(tmp_path, demo_data):
    """The server starts before the checks; a refused job ends it before the command returns."""
    body = json.loads((demo_data / "job.json").read_text())
    body = {**body, "bed": str(tmp_path / "no-such.bed"), "ref": str(demo_data / body["ref"]),
            "output_dir": str(tmp_path / "out")}
    (tmp_path / "job.json").write_text(json.dumps(body))
    home = tmp_path / "home"
    env = dict(_env(), LOCALGENE_HOME=str(home))
    out = subprocess.run([sys.executable, "-m", "localgene", "run", str(tmp_path / "job.json")], cwd=demo_data,
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2, out.stderr
    assert "bed" in out.stderr and "no-such.bed" in out.stderr and "Traceback" not in out.stderr
    assert _servers_of(home) == []
    assert not (home / "jobs").exists() or not any((home / "jobs").iterdir())


def test_a_server_stopped_while_importing_ends_as_a_stopped_one(tmp_path):
    """The job is cancelled right after the folder was sent, while CNVkit is still imported:
    the server stops cleanly (socket removed, said in its log), as one stopped while serving."""
    early = server_early.start(_env())
    env = _env()
    server = server_process.start(tmp_path, env, local=True, early=early)
    assert server is not None
    server.stop()  # SIGTERM, long before the import ends on any machine
    assert server.proc.returncode == 0
    assert not Path(env[ENV_SERVER]).exists()
    assert "stopped" in (tmp_path / cnvkit_server.LOG).read_text()
