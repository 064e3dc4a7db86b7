"""The job's CNVkit step server: each step exactly as ``cnvkit.py <argv>``, and nothing left behind.

Every test starts a real server (CNVkit imported in it) in a scratch job folder and runs real
CNVkit steps through :func:`localgene.cnvkit.step.run_cnvkit`, beside the same steps run as
plain ``cnvkit.py`` processes (``LOCALGENE_WARM=0``). A step that must be caught "mid-step" reads
its input from a named pipe nobody writes to: a real CNVkit step, blocked for as long as the
test needs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from localgene.cnvkit import server as cnvkit_server
from localgene.cnvkit import server_process
from localgene.cnvkit.step import ENV_SERVER, ENV_SERVER_PREFIX, ENV_WARM, run_cnvkit
from localgene.run import timeline

#: A generous bound for anything the tests wait for (a loaded 2-core machine).
PATIENCE = 120.0


def wait_for(condition, what: str, timeout: float = PATIENCE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _start(folder: Path):
    env = dict(os.environ)
    env.pop(ENV_WARM, None)
    server = server_process.start(folder, env, local=True)
    assert server is not None, (folder / cnvkit_server.LOG).read_text()
    return env, server


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for the tests that leave it running (CNVkit's import is seconds on a busy machine)."""
    folder = tmp_path_factory.mktemp("shared-job")
    env, server = _start(folder)
    yield folder, env, server
    server.stop()


@pytest.fixture
def job(shared_server, tmp_path, monkeypatch):
    """The shared server; this test's own working directory; Snakemake's env for the steps."""
    monkeypatch.chdir(tmp_path)
    yield shared_server


@pytest.fixture
def own_job(tmp_path, monkeypatch):
    """A server of its own (the test stops or kills it), in this test's job folder."""
    monkeypatch.chdir(tmp_path)
    env, server = _start(tmp_path)
    yield tmp_path, env, server
    server.stop()


def plain(env):
    return dict(env, **{ENV_WARM: "0"})


def test_the_socket_is_owner_only_and_steps_are_forked_by_the_server(job):
    folder, env, server = job
    sock = Path(env[ENV_SERVER])
    assert sock.is_socket() and sock.stat().st_mode & 0o777 == 0o600
    assert sock.parent.stat().st_mode & 0o777 == 0o700
    assert env[ENV_SERVER_PREFIX] == sys.prefix
    assert run_cnvkit(["version"], "v.log", step="version", env=env) == 0
    from importlib.metadata import version

    assert Path("v.log").read_text() == f"$ cnvkit.py version\n{version('cnvkit')}\n"
    (record,) = timeline.read()
    assert record["runner"] == "server" and record["step"] == "version"
    assert record["end"] >= record["start"] and record["cpu_s"] >= 0 and record["max_rss_mb"] > 0
    assert "imported CNVkit" in (folder / cnvkit_server.LOG).read_text()


def test_an_argument_error_exits_2_with_cnvkits_own_usage_message(job):
    _, env, _ = job
    assert run_cnvkit(["call", "--no-such-option", "x.cns"], "warm.log", env=env) == 2
    assert run_cnvkit(["call", "--no-such-option", "x.cns"], "plain.log", env=plain(env)) == 2
    warm = Path("warm.log").read_text()
    assert warm == Path("plain.log").read_text()
    assert "usage: cnvkit.py" in warm and "unrecognized arguments: --no-such-option" in warm


def test_a_runtime_error_exits_1_with_the_traceback_in_the_log(job):
    _, env, _ = job
    assert run_cnvkit(["call", "missing.cns", "-o", "out.cns"], "warm.log", env=env) == 1
    assert run_cnvkit(["call", "missing.cns", "-o", "out.cns"], "plain.log", env=plain(env)) == 1
    warm, cold = Path("warm.log").read_text(), Path("plain.log").read_text()
    assert warm.splitlines()[1] == "Traceback (most recent call last):"
    last = "FileNotFoundError: [Errno 2] No such file or directory: 'missing.cns'"
    assert warm.splitlines()[-1] == cold.splitlines()[-1] == last
    assert not Path("out.cns").exists()


def test_steps_write_the_same_files_as_cnvkit_processes(job, demo_data):
    """Real steps, chained: each output byte-identical to the plain process's."""
    _, env, _ = job
    body = json.loads((demo_data / "job.json").read_text())
    for name, how in (("warm", env), ("plain", plain(env))):
        Path(name).mkdir()
        assert run_cnvkit(["target", body["bed"], "--annotate", body["annotation_file"],
                           "-o", f"{name}/t.target.bed"], f"{name}/target.log", env=how) == 0
        assert run_cnvkit(["access", body["ref"], "-o", f"{name}/access.bed"], f"{name}/access.log", env=how) == 0
        assert run_cnvkit(["antitarget", f"{name}/t.target.bed", "-g", f"{name}/access.bed",
                           "-o", f"{name}/t.antitarget.bed"], f"{name}/antitarget.log", env=how) == 0
        assert run_cnvkit(["coverage", body["control_inputs"][0], f"{name}/t.target.bed",
                           "-o", f"{name}/n.targetcoverage.cnn"], f"{name}/coverage.log", env=how) == 0
    for out in ("t.target.bed", "access.bed", "t.antitarget.bed", "n.targetcoverage.cnn"):
        warm, cold = Path("warm", out).read_bytes(), Path("plain", out).read_bytes()
        assert warm == cold and len(warm) > 100, out
    for log in ("target", "access", "antitarget"):  # (coverage logs its own timing)
        assert Path("warm", f"{log}.log").read_text() == Path("plain", f"{log}.log").read_text().replace(
            "plain/", "warm/"), log


@pytest.mark.parametrize("engine", ["auto", "cnvkit"])
def test_the_coverage_entry_runs_in_the_server_like_its_own_process(job, demo_data, engine):
    """localgene's coverage step (both kinds of one BAM) forked by the server: the same .cnn as
    ``python -m localgene.cnvkit.coverage_step``. By default (``auto``) the forked step, CNVkit
    imported already, runs the bincount engine even for a small demo BAM; with
    ``LOCALGENE_COVERAGE_ENGINE=cnvkit`` CNVkit's own coverage runs in a child of that step, its
    log as the plain process's and its CPU counted as the step's."""
    from localgene.cnvkit.step import run_entry

    _, env, _ = job
    env = dict(env, LOCALGENE_COVERAGE_ENGINE=engine)
    body = json.loads((demo_data / "job.json").read_text())
    assert run_cnvkit(["target", body["bed"], "-o", "t.target.bed"], "target.log", env=env) == 0
    assert run_cnvkit(["antitarget", "t.target.bed", "-o", "t.antitarget.bed"], "antitarget.log", env=env) == 0
    bam = body["control_inputs"][0]
    for name, how in (("warm", env), ("plain", plain(env))):
        Path(name).mkdir()
        request = {"sample": "N1", "bam": bam, "bai": bam + ".bai", "threads": 1, "cache": "", "options": {},
                   "bins": {"target": "t.target.bed", "antitarget": "t.antitarget.bed"},
                   "outputs": {k: f"{name}/N1.{k}coverage.cnn" for k in ("target", "antitarget")},
                   "logs": {k: f"{name}/{k}.log" for k in ("target", "antitarget")},
                   "argv": {k: ["coverage", bam, f"t.{k}.bed", "-q", "10", "-o", f"{name}/N1.{k}coverage.cnn"]
                            for k in ("target", "antitarget")},
                   "engine_options": {"min_mapq": 10}, "instance_id": "x"}
        assert run_entry("coverage", [json.dumps(request)], f"{name}/target.log", step=f"coverage-{name}",
                         wildcards={"sample": "N1"}, env=how) == 0
    for kind in ("target", "antitarget"):
        warm, cold = (Path(n, f"N1.{kind}coverage.cnn").read_bytes() for n in ("warm", "plain"))
        assert warm == cold and len(warm) > 100, kind
        first = Path("warm", f"{kind}.log").read_text().splitlines()[0]
        if engine == "cnvkit":
            assert first == f"$ cnvkit.py coverage {bam} t.{kind}.bed -q 10 -o warm/N1.{kind}coverage.cnn"
        else:
            assert first == ("# coverage engine: bincount base counts + CNVkit's own table code; same .cnn as: "
                             f"cnvkit.py coverage {bam} t.{kind}.bed -q 10 -o warm/N1.{kind}coverage.cnn")
    records = {r["step"]: r for r in timeline.read()}
    assert records["coverage-warm"]["runner"] == "server" and records["coverage-plain"]["runner"] == "process"
    assert records["coverage-warm"]["cpu_s"] > 0.05  # the passes over the BAM, or CNVkit's coverage, are the step's
    assert "unknown entry" not in (job[0] / cnvkit_server.LOG).read_text()


def test_the_server_runs_no_entry_it_does_not_know(job):
    from localgene.cnvkit.step import _through_server

    _, env, _ = job
    with open("x.log", "w") as log, pytest.raises(Exception, match="stopped before it started"):
        _through_server(env[ENV_SERVER], ["anything"], log, env, entry="os.system")
    assert "unknown entry 'os.system'" in (job[0] / cnvkit_server.LOG).read_text()


def test_each_step_gets_its_own_environment_and_working_directory(job):
    _, env, _ = job
    folder = Path.cwd()
    sub = folder / "sub"
    sub.mkdir()
    os.chdir(sub)
    # a relative output lands in the caller's working directory, not the server's
    assert run_cnvkit(["version"], "v.log", env=dict(env, TMPDIR=str(sub))) == 0
    assert (sub / "v.log").exists() and not (folder / "v.log").exists()


def blocked_step(env, log="blocked.log"):
    """Start `cnvkit.py call` on a named pipe nobody writes to; returns (thread, result list)."""
    os.mkfifo("blocked.cns")
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(
        run_cnvkit(["call", "blocked.cns", "-o", "out.cns"], log, step="call", env=env)), daemon=True)
    thread.start()
    return thread, result


def test_an_interrupt_reaches_the_running_step_and_nothing_is_left(job):
    _, env, server = job
    thread, result = blocked_step(env)
    (child,) = wait_for(lambda: children_of(server.proc.pid), "the step's process")
    server.interrupt()  # as the job process does on Ctrl-C / cancel
    thread.join(PATIENCE)
    assert result == [-signal.SIGINT]
    assert "KeyboardInterrupt" in Path("blocked.log").read_text()
    wait_for(lambda: not alive(child), "the step to be gone")
    assert server.proc.poll() is None  # the server itself keeps serving
    assert run_cnvkit(["version"], "v.log", env=env) == 0


def test_a_killed_server_fails_the_running_step_clearly_and_leaves_no_process(own_job):
    _, env, server = own_job
    thread, result = blocked_step(env)
    (child,) = wait_for(lambda: children_of(server.proc.pid), "the step's process")
    server.proc.send_signal(signal.SIGKILL)
    thread.join(PATIENCE)
    assert not thread.is_alive() and result == [1]
    log = Path("blocked.log").read_text()
    assert "localgene: the job's CNVkit step server stopped while this step ran" in log
    wait_for(lambda: not alive(child), "the orphaned step to be gone")
    # the next step fails at once, saying why, instead of waiting
    assert run_cnvkit(["version"], "next.log", env=env) == 1
    assert "the job's CNVkit step server is not running" in Path("next.log").read_text()


def test_a_client_that_goes_away_takes_its_step_with_it(job):
    """Snakemake killed while a step runs: the server stops that step."""
    import subprocess

    _, env, server = job
    os.mkfifo("blocked.cns")
    client = subprocess.Popen(
        [sys.executable, "-c", "from localgene.cnvkit.step import run_cnvkit; "
         "run_cnvkit(['call', 'blocked.cns', '-o', 'out.cns'], 'gone.log')"],
        env=env, stdin=subprocess.DEVNULL)
    (child,) = wait_for(lambda: children_of(server.proc.pid), "the step's process")
    client.kill()
    client.wait()
    wait_for(lambda: not alive(child), "the step of the vanished client to be gone")
    assert server.proc.poll() is None


def test_a_client_interrupted_in_its_main_thread_passes_it_on(job):
    """A script: step (its own process) that gets SIGTERM forwards it to the forked step."""
    import subprocess

    _, env, server = job
    os.mkfifo("blocked.cns")
    client = subprocess.Popen(
        [sys.executable, "-c", "import sys; from localgene.cnvkit.step import run_cnvkit; "
         "sys.exit(run_cnvkit(['call', 'blocked.cns', '-o', 'out.cns'], 'term.log') & 0xFF)"],
        env=env, stdin=subprocess.DEVNULL, start_new_session=True)  # not in the server's group
    (child,) = wait_for(lambda: children_of(server.proc.pid), "the step's process")
    client.send_signal(signal.SIGTERM)
    assert client.wait(PATIENCE) == (-signal.SIGTERM) & 0xFF  # the step's own status, passed back
    wait_for(lambda: not alive(child), "the step to be gone")


def test_stopping_the_server_stops_its_steps(own_job):
    _, env, server = own_job
    thread, result = blocked_step(env)
    (child,) = wait_for(lambda: children_of(server.proc.pid), "the step's process")
    server.stop()
    assert server.proc.returncode == 0
    thread.join(PATIENCE)
    assert result == [-signal.SIGTERM]
    assert not alive(child) and not Path(env[ENV_SERVER]).exists()


def test_no_server_where_it_cannot_serve(tmp_path):
    env = dict(os.environ)
    assert server_process.start(tmp_path, dict(env, **{ENV_WARM: "0"}), local=True) is None
    assert server_process.start(tmp_path, env, local=False) is None
    assert server_process.start(tmp_path, env, local=True, snakemake_args=["--use-conda"]) is None
    assert server_process.start(tmp_path, env, local=True, snakemake_args=["--sdm", "conda"]) is None
    assert ENV_SERVER not in env and not (tmp_path / cnvkit_server.LOG).exists()


def test_another_python_runs_its_own_cnvkit(job):
    """A conda environment's Python (another prefix) never uses this job's server."""
    _, env, _ = job
    other = dict(env, **{ENV_SERVER_PREFIX: "/opt/some-conda-env"})
    assert run_cnvkit(["version"], "v.log", step="version", env=other) == 0
    assert timeline.read()[0]["runner"] == "process"
