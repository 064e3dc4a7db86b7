"""Progress and failure messages of run_workflow come from the run's events (localgene.run.events),
on a real failing run of a tiny workflow (LOCALGENE_WORKFLOW_DIR)."""

from __future__ import annotations

import json

import pytest

from localgene.errors import WorkflowFailed
from localgene.run import workflow
from localgene.run.events import events_path
from localgene.run.step_failures import failure_message

SNAKEFILE = """
rule all:
    input: expand("out/{s}.txt", s=["a", "b"])

rule make:
    # b after a: with one core Snakemake would pick either first, and stop at b's failure
    input: lambda wc: ["out/a.txt"] if wc.s == "b" else []
    output: "out/{s}.txt"
    log: "logs/{s}.log"
    shell: "echo $ step {wildcards.s} > {log}; test {wildcards.s} != b || (echo 'error: sample b has no reads' >> {log}; exit 3); echo {wildcards.s} > {output}"
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    wf = tmp_path / "wf"
    wf.mkdir()
    (wf / "Snakefile").write_text(SNAKEFILE)
    monkeypatch.setenv("LOCALGENE_WORKFLOW_DIR", str(wf))
    job = tmp_path / "job"
    (job / "logs").mkdir(parents=True)
    (job / "config.json").write_text(json.dumps({"job_type": "TINY"}))  # no CNVkit step server
    return job


def test_a_failing_run_reports_progress_and_names_the_step_from_its_events(tiny):
    seen = []
    with pytest.raises(WorkflowFailed) as caught:
        workflow.run_workflow(tiny, cores=1, on_progress=lambda done, total: seen.append((done, total)))
    message = "step 'make' (s=b) failed: sample b has no reads [log: logs/b.log]"
    assert str(caught.value) == message
    assert seen[0] == (0, 3) and (1, 3) in seen and all(t == 3 for _, t in seen)
    assert events_path(tiny).is_file()
    # the message comes from the events, not from the text log
    (tiny / "logs" / "snakemake.log").write_text("")
    assert failure_message(tiny / "logs" / "snakemake.log", tiny) == message


def test_a_run_that_succeeds_counts_every_step(tiny):
    (tiny.parent / "wf" / "Snakefile").write_text(SNAKEFILE.replace("test {wildcards.s} != b ||", "true ||"))
    seen = []
    result = workflow.run_workflow(tiny, cores=1, on_progress=lambda done, total: seen.append((done, total)))
    assert (result.done, result.total) == (3, 3)
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
