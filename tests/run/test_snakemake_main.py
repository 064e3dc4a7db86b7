"""localgene's Snakemake entry: what it leaves out of a local run's start and end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from localgene.run.snakemake_main import runs_locally

SNAKEFILE = textwrap.dedent('''
    rule all:
        input: "b.txt"

    rule a:
        output: "a.txt"
        params: n=3
        run:
            open(output[0], "w").write("a")

    rule b:
        input: "a.txt"
        output: "b.txt"
        run:
            open(output[0], "w").write("b")
''')

#: Runs the entry as ``python -m localgene.run.snakemake_main`` would, then reports what is
#: left in the process once Snakemake has returned.
PROBE = textwrap.dedent('''
    import json, sys, threading
    from localgene.run import snakemake_main
    try:
        snakemake_main.main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    alive = [t for t in threading.enumerate()
             if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    print(json.dumps({
        "code": code,
        "non_daemon_threads": [type(t).__name__ for t in alive],
        "executor_plugins": sorted(m for m in sys.modules if m.startswith("snakemake_executor_plugin")),
        "pandas": "pandas" in sys.modules,
    }))
''')


def probe(tmp_path, *args: str) -> dict:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    out = subprocess.run([sys.executable, "-c", PROBE, "--cores", "1", "--force-use-threads", "-q", *args],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_local_run_ends_with_no_thread_left_to_wait_for_and_loads_no_executor_plugin(tmp_path):
    said = probe(tmp_path)
    assert said["code"] == 0
    assert (tmp_path / "b.txt").read_text() == "b"
    # Snakemake's scheduler timers (1 s each) would keep the interpreter from exiting
    assert said["non_daemon_threads"] == []
    assert said["executor_plugins"] == []
    assert said["pandas"] is False  # the params check did not import it


def test_a_run_that_names_a_plugin_executor_loads_the_plugins(tmp_path):
    said = probe(tmp_path, "--executor", "slurm", "--jobs", "1", "-n")
    assert "snakemake_executor_plugin_slurm" in said["executor_plugins"]


@pytest.mark.parametrize("argv, local", [
    (["--cores", "2"], True),
    (["--executor", "local"], True),
    (["-e", "dryrun"], True),
    (["--executor=touch"], True),
    (["--executor", "slurm", "--profile", "p"], False),
    (["-e", "slurm"], False),
    (["-eslurm"], False),
    (["--profile", "site"], False),
    (["--workflow-profile", "mine"], False),
    (["--workflow-profile", "none"], True),
])
def test_which_runs_are_local_only(argv, local):
    assert runs_locally(argv, env={}) is local


def test_a_profile_from_the_environment_is_not_local_only():
    assert runs_locally(["--cores", "1"], env={"SNAKEMAKE_PROFILE": "site"}) is False


def test_the_cnvkit_workflow_run_locally_loads_no_executor_plugin(demo_data, tmp_path, monkeypatch):
    """The job's own Snakefile, not only a toy one: its rule files must not pull the SLURM plugin
    (pandas, sinfo/sacct/scontrol: ~0.9 s) into a local run either (rules/common.smk patches the
    plugin only where Snakemake loaded it)."""
    from localgene import settings
    from localgene.run import workflow

    monkeypatch.setenv("LOCALGENE_HOME", str(tmp_path / "home"))
    body = workflow.absolute_paths(json.loads((demo_data / "job.json").read_text()), demo_data)
    job = tmp_path / "job"
    workflow.prepare_job(body, job, instance_id="x", cores=2, settings=settings.load())
    argv = workflow.snakemake_argv(job, cores=2)
    assert argv[1:3] == ["-m", "localgene.run.snakemake_main"]
    out = subprocess.run([sys.executable, "-c", PROBE, *argv[3:], "-n"], cwd=job, capture_output=True,
                         text=True, timeout=600)
    said = json.loads(out.stdout.strip().splitlines()[-1])
    assert said["code"] == 0, out.stderr[-2000:]
    assert said["executor_plugins"] == []
    assert said["pandas"] is False


def test_the_entry_exits_with_snakemakes_status_and_all_its_output(tmp_path):
    """`python -m localgene.run.snakemake_main` ends without the interpreter's teardown: the exit
    status and every line Snakemake wrote (its log file too) must still be there."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    ok = subprocess.run([sys.executable, "-m", "localgene.run.snakemake_main", "--cores", "1"],
                        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "b.txt").read_text() == "b"
    assert "3 of 3 steps (100%) done" in ok.stderr
    logs = sorted((tmp_path / ".snakemake" / "log").glob("*.snakemake.log"))
    assert logs and "3 of 3 steps (100%) done" in logs[-1].read_text()

    (tmp_path / "Snakefile").write_text(SNAKEFILE.replace('open(output[0], "w").write("b")',
                                                          'raise ValueError("planted failure")'))
    (tmp_path / "b.txt").unlink()
    failed = subprocess.run([sys.executable, "-m", "localgene.run.snakemake_main", "--cores", "1"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert failed.returncode == 1
    assert "planted failure" in failed.stderr and "Error in rule b" in failed.stderr
    assert not (tmp_path / "b.txt").exists()
