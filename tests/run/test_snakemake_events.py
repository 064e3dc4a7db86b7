"""localgene's Snakemake logger plugin (localgene.run.snakemake_events) and its entry
(localgene.run.snakemake_main), on real runs: a tiny Snakefile runs through the entry, and the
events the plugin wrote are checked against what the same run's Snakemake printed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from localgene.run.events import EventFile, RunEvents, events_path

SNAKEFILE = """
rule all:
    input: expand("out/{s}.txt", s=["a", "b", "c"])

rule make:
    output: "out/{s}.txt"
    log: "logs/{s}.log"
    shell: "echo made {wildcards.s} > {log}; test {wildcards.s} != b || (echo 'error: b is bad' >> {log}; exit 3); echo {wildcards.s} > {output}"
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    return subprocess.run(
        [sys.executable, "-m", "localgene.run.snakemake_main", "--cores", "1", "--logger", "localgene",
         "--logger-localgene-path", str(events_path(tmp_path)), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)


def events(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in events_path(tmp_path).read_text().splitlines()]


def test_a_run_through_the_entry_writes_each_steps_start_end_failure_and_the_progress(tmp_path):
    proc = run(tmp_path, "--keep-going")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    got = events(tmp_path)
    assert got[0]["event"] == "logger_started" and got[0]["format"] == 1
    assert all(isinstance(e["time"], float) for e in got)
    # every step Snakemake printed ("rule make:" ... "jobid: N" ... "wildcards: s=x") is a job_info
    # (only the "rule make:" blocks: an "Error in rule" block also names the jobid, without wildcards)
    printed = {}
    for block in re.finditer(r"^(?:local)?rule make:\n((?:[ \t]+.*\n)+)", text, re.M):  # its indented lines
        jobid, wildcards = re.search(r"jobid: (\d+)", block.group(1)), re.search(r"wildcards: (\S+)", block.group(1))
        printed[jobid.group(1)] = wildcards.group(1)
    infos = {str(e["jobid"]): e for e in got if e["event"] == "job_info"}
    assert {j: f"s={e['wildcards']['s']}" for j, e in infos.items() if e["rule"] == "make"} == printed
    assert {e["wildcards"]["s"]: e["log"] for e in infos.values() if e["rule"] == "make"} == {
        s: [f"logs/{s}.log"] for s in "abc"}
    # the progress Snakemake printed, in the same order
    assert [(e["done"], e["total"]) for e in got if e["event"] == "progress"] == [
        (int(d), int(t)) for d, t in re.findall(r"^(\d+) of (\d+) steps", text, re.M)]
    assert next(e["total"] for e in got if e["event"] == "run_info") == 4
    # the failed step: rule, jobid, log; its start and no end
    [error] = [e for e in got if e["event"] == "job_error"]
    b = next(j for j, e in infos.items() if e["wildcards"] == {"s": "b"})
    assert (error["rule"], str(error["jobid"]), error["log"], error["in_group"]) == ("make", b, ["logs/b.log"], False)
    finished = {str(e["jobid"]) for e in got if e["event"] == "job_finished"}
    assert b not in finished and {j for j, e in infos.items() if e["wildcards"] != {"s": "b"}} <= finished
    assert any(e["event"] == "error" and "did not complete successfully" in e["message"] for e in got)


def test_the_fold_of_the_events_gives_progress_running_steps_and_the_failed_one(tmp_path):
    run(tmp_path, "--keep-going")
    state = RunEvents().extend(EventFile(events_path(tmp_path)).new())
    assert (state.done, state.total) == (2, 4)
    assert state.running() == ["'make' (s=b)"]  # started, never finished; 'all' never started
    assert state.wildcards(state.job_errors[-1]["jobid"]) == "s=b"


def test_a_second_run_in_the_same_folder_starts_a_new_fold(tmp_path):
    run(tmp_path, "--keep-going")
    (tmp_path / "Snakefile").write_text(SNAKEFILE.replace("test {wildcards.s} != b ||", "true ||"))
    proc = subprocess.run(
        [sys.executable, "-m", "localgene.run.snakemake_main", "--cores", "1", "--logger", "localgene",
         "--logger-localgene-path", str(events_path(tmp_path))],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    state = RunEvents().extend(EventFile(events_path(tmp_path)).new())
    assert not state.job_errors and state.done == state.total > 0 and state.running() == []
    assert state.count < len(events(tmp_path))  # the first run's events were left behind


def test_the_event_file_is_read_in_complete_lines_only(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"event": "progress", "done": 1, "total": 3}\n{"event": "progr')
    follow = EventFile(path)
    assert [e["done"] for e in follow.new()] == [1]
    with open(path, "a") as f:
        f.write('ess", "done": 2, "total": 3}\n')
    assert [e["done"] for e in follow.new()] == [2]
    assert follow.new() == []


def test_without_the_option_the_entry_is_plain_snakemake(tmp_path):
    proc = run(tmp_path, "-n")
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "Snakefile").write_text(SNAKEFILE)
    plain = subprocess.run([sys.executable, "-m", "localgene.run.snakemake_main", "--cores", "1", "-n"],
                           cwd=tmp_path / "plain", capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert not events_path(tmp_path / "plain").exists()
    assert "make" in plain.stdout + plain.stderr
