"""Warnings a workflow finds while a job runs reach the job's record when the runner ends it.

The runner's own code runs for real (``execute_job`` with a real store and job folder); only the
workflow is replaced by a stand-in that leaves a crafted ``results/job.json`` (what every
workflow's summary step writes) and then ends well or fails, so no Snakemake run is needed."""

from __future__ import annotations

import json

import pytest

from localgene import settings as settings_mod
from localgene.errors import WorkflowFailed
from localgene.jobs.bodies import CNVKIT_KIND, new_record
from localgene.jobs.status import Status
from localgene.run import runner, workflow
from localgene.store import Store

AT_SUBMIT = "no BQSR: known_sites is not used"
STRANDEDNESS = ("sample S1: library_type is fr-unstranded but the reads look fr-firststrand "
                "(1.2 % of assigned pairs have read 1 on the gene's strand; featureCounts -s 1 assigned 12, -s 2 988)")
SEGMENT = "T1: 40 % of bins have log2 below -15; CBS may split them into many small segments"


@pytest.fixture
def home(tmp_path):
    cfg = settings_mod.load({"LOCALGENE_HOME": str(tmp_path / "home")}).ensure_dirs()
    store = Store.open(cfg)
    yield cfg, store
    store.close()


def run_with(monkeypatch, cfg, store, kind, *, summary, fails=False, submit_warnings=()):
    """Submit a job of ``kind`` and run it through ``execute_job`` with a workflow that writes
    ``summary`` (text, or None for no file) as results/job.json, then fails if asked."""
    request = {"job_type": kind} if kind != CNVKIT_KIND else {"output_dir": "o"}
    record = store.submit(new_record("p1", "alice", kind, request, warnings=submit_warnings))

    def run_workflow(job_dir, **_kwargs):
        if summary is not None:
            (job_dir / "results").mkdir(parents=True, exist_ok=True)
            (job_dir / runner.SUMMARY).write_text(summary)
        if fails:
            raise WorkflowFailed("step 'deseq2' failed: exit status 1")

    monkeypatch.setattr(runner, "stage", lambda *args, **kwargs: dict(request))
    monkeypatch.setattr(workflow, "prepare_job", lambda *args, **kwargs: None)
    monkeypatch.setattr(workflow, "run_workflow", run_workflow)
    status = runner.execute_job(store, record.instance_id, cfg=cfg, cores=1)
    return status, store.find(record.instance_id)


@pytest.mark.parametrize("kind, found", [
    ("RNA_DIFF_EXPR", [STRANDEDNESS]),
    (CNVKIT_KIND, [SEGMENT]),
    ("DNA_GERMLINE", [AT_SUBMIT]),  # the plan's notes, already recorded at submit: kept once
])
def test_a_finished_job_gets_the_warnings_its_workflow_found_once_after_those_of_submit(
        monkeypatch, home, kind, found):
    cfg, store = home
    summary = json.dumps({"warnings": [AT_SUBMIT, *found, *found]})
    status, record = run_with(monkeypatch, cfg, store, kind, summary=summary, submit_warnings=[AT_SUBMIT])
    assert status is Status.FINISHED and record.status is Status.FINISHED
    assert record.warnings == list(dict.fromkeys([AT_SUBMIT, *found]))
    assert record.warnings.count(AT_SUBMIT) == 1


def test_a_failed_job_gets_them_too_with_its_reason(monkeypatch, home):
    cfg, store = home
    status, record = run_with(monkeypatch, cfg, store, "RNA_DIFF_EXPR", fails=True,
                              summary=json.dumps({"warnings": [STRANDEDNESS]}))
    assert status is Status.FAILED
    assert record.message == "step 'deseq2' failed: exit status 1"
    assert record.warnings == [STRANDEDNESS]


@pytest.mark.parametrize("summary", [None, "{not json", json.dumps(["a list"]), json.dumps({"warnings": "one"}),
                                     json.dumps({"steps": {}})])
@pytest.mark.parametrize("fails", [False, True])
def test_no_readable_summary_keeps_the_warnings_of_submit_and_ends_the_job_as_it_ended(
        monkeypatch, home, summary, fails):
    cfg, store = home
    status, record = run_with(monkeypatch, cfg, store, "DNA_SOMATIC", summary=summary, fails=fails,
                              submit_warnings=[AT_SUBMIT])
    assert status is (Status.FAILED if fails else Status.FINISHED)
    assert record.warnings == [AT_SUBMIT]
    assert "internal error" not in record.message


def test_found_warnings_reads_the_summary_every_workflow_writes():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    for rules in ("rules/common.smk", "rules/rna_diff_expr/main.smk", "rules/dna_common/common.smk"):
        assert f'SUMMARY = "{runner.SUMMARY.as_posix()}"' in (repo / rules).read_text(), rules
