"""One ordered table of job checks, run per stage (localgene.jobs.checks).

The messages are those the four hand-made compositions gave before the table replaced them
(jobs.check_cnvkit / check_pipeline at submit, workflow.prepare_job in the job process,
rules/common.smk in Snakemake, ``localgene check``), captured from that code.
"""

import json
from pathlib import Path

import pytest

from localgene import settings
from localgene.errors import InputNotFound, InvalidRequest, LocalgeneError, UnsupportedOption
from localgene.jobs import checks as job_checks
from localgene.jobs import service as jobs
from localgene.jobs.checks import CHECKS, check_job, checks_for
from localgene.run import workflow

SHELL = ("call_conf: contains shell syntax (';'); give plain CNVkit options such as '--flag value' "
         "(nothing is ever run through a shell)")


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALGENE_HOME", str(tmp_path / "home"))
    return settings.load()


@pytest.fixture
def body(demo_data):
    return workflow.absolute_paths(json.loads((demo_data / "job.json").read_text()), demo_data)


@pytest.fixture
def missing(body):
    return {**body, "control_inputs": [body["control_inputs"][0], "/nonexistent/N9.bam"]}


def test_the_table_says_what_each_stage_runs():
    names = {(kind, stage): [c.name for c in checks_for(kind, stage)]
             for kind in ("cnvkit", "pipeline") for stage in job_checks.STAGES}
    assert names[("cnvkit", "submit")] == ["body", "options", "plan", "environment", "inputs", "output_dir"]
    assert names[("cnvkit", "run")] == ["body", "options", "plan", "environment", "local files"]
    assert names[("cnvkit", "check")] == ["body", "options", "plan", "environment", "local files"]
    assert names[("cnvkit", "workflow")] == ["options", "plan", "environment", "local files"]
    assert names[("cnvkit", "step")] == ["options", "plan"]
    assert names[("pipeline", "submit")] == ["body", "workflow installed", "replicates", "DNA options",
                                             "references and inputs", "BAM samples", "destinations"]
    assert names[("pipeline", "run")] == ["body", "workflow installed"]
    assert names[("pipeline", "check")] == names[("pipeline", "workflow")] == []
    # one table: every stage's list is a sub-sequence of it
    for (kind, _stage), listed in names.items():
        assert [c.name for c in CHECKS if c.kind == kind and c.name in listed] == listed
    with pytest.raises(ValueError, match="unknown stage"):
        checks_for("cnvkit", "later")


@pytest.mark.parametrize("stage, kind, message", [
    ("submit", InputNotFound, "control_inputs[1]: /nonexistent/N9.bam does not exist (no such file)"),
    ("run", InputNotFound, "control_inputs[1]: /nonexistent/N9.bam does not exist"),
    ("check", InputNotFound, "control_inputs[1]: /nonexistent/N9.bam does not exist"),
    ("workflow", InputNotFound, "control_inputs[1]: /nonexistent/N9.bam does not exist"),
])
def test_a_missing_input_is_refused_as_before(cfg, missing, stage, kind, message):
    config = {**missing, "instance_id": "x"} if stage == "workflow" else None
    with pytest.raises(kind) as caught:
        check_job(config or missing, cfg, stage=stage, cores=2, kind="cnvkit")
    assert str(caught.value) == message


def test_a_step_process_does_not_check_files(cfg, missing, tmp_path):
    job = check_job({**missing, "instance_id": "x"}, cfg, stage="step", cores=2,
                    snapshot=tmp_path / "no-snapshot.json")
    assert job.plan is not None and list(job.plan.controls)[-1] == "N9"


@pytest.mark.parametrize("stage", ["submit", "run", "check", "workflow", "step"])
def test_a_bad_option_is_refused_at_every_stage(cfg, body, stage):
    with pytest.raises(UnsupportedOption) as caught:
        check_job({**body, "call_conf": "; reboot"}, cfg, stage=stage, cores=2)
    assert str(caught.value) == SHELL


def test_the_workflow_stage_does_not_parse_the_body(cfg, body):
    # Snakemake's config carries localgene's keys, which the body model refuses
    with pytest.raises(InvalidRequest, match="instance_id: unknown field"):
        check_job({**body, "instance_id": "x"}, cfg, stage="run", cores=2)
    assert check_job({**body, "instance_id": "x"}, cfg, stage="workflow", cores=2).plan.instance_id == "x"


def test_check_refuses_a_pipeline_body_as_a_cnvkit_body(cfg):
    with pytest.raises(InvalidRequest) as caught:
        check_job({"job_type": "RNA_DIFF_EXPR"}, cfg, stage="check", kind="cnvkit")
    assert str(caught.value) == ("experimental_inputs: is required (also missing: control_inputs, "
                                 "output_dir, ref, bed) (and 1 more problem)")


def _rna(ref: str) -> dict:
    def group(name, *samples):
        return {"group_name": name, "group_inputs": [
            {"sample_name": s, "files": [f"/x/{s}_1.fq.gz", f"/x/{s}_2.fq.gz"]} for s in samples]}
    return {"job_type": "RNA_DIFF_EXPR", "inputs": [group("a", "s1", "s1b"), group("b", "s2", "s2b")],
            "output": "/tmp/out/", "ref": ref, "gtf": "/x/g.gtf"}


def test_pipeline_submit_messages_as_before(cfg):
    with pytest.raises(InputNotFound) as caught:
        jobs.check_pipeline(_rna("nosuchref"), settings=cfg)
    assert str(caught.value) == (
        "ref: 'nosuchref' is not a path and not a name in the reference registry; the registry has "
        "no names yet (add one with `localgene references add NAME FILE`)")
    with pytest.raises(InputNotFound) as caught:
        jobs.check_pipeline(_rna("/x/genome.fa"), settings=cfg)
    assert str(caught.value) == "ref: /x/genome.fa does not exist (no such file)"


def test_pipeline_run_checks_only_the_body_and_the_workflow(cfg, tmp_path):
    with pytest.raises(InvalidRequest) as caught:
        workflow.prepare_pipeline_job({**_rna("/x/genome.fa"), "output": ""}, tmp_path, instance_id="x", settings=cfg)
    assert str(caught.value) == "output: must not be empty"
    # the inputs are not looked at again when the job process starts (they were at submit)
    workflow.prepare_pipeline_job(_rna("/x/genome.fa"), tmp_path, instance_id="x", settings=cfg)
    assert json.loads((Path(tmp_path) / "config.json").read_text())["instance_id"] == "x"


def test_every_caller_goes_through_check_job(monkeypatch, cfg, body, tmp_path):
    seen = []
    real = job_checks.check_job

    def spy(body, settings, *, stage, **kw):
        seen.append(stage)
        return real(body, settings, stage=stage, **kw)

    monkeypatch.setattr(job_checks, "check_job", spy)
    monkeypatch.setattr(jobs, "check_job", spy)
    jobs.check_cnvkit(body, settings=cfg)
    workflow.prepare_job(body, tmp_path / "job", instance_id="x", cores=2, settings=cfg)
    assert seen == ["submit", "run"]
    smk = (Path(workflow.workflow_dir()) / "rules" / "common.smk").read_text()
    assert "lg_job_checks.check_job(" in smk and "check_environment" not in smk
    with pytest.raises(LocalgeneError):
        jobs.check_cnvkit({**body, "bed": "/nonexistent.bed"}, settings=cfg)


def test_the_workflow_stage_trusts_the_machine_check_of_the_job_process_that_started_it(
        cfg, body, tmp_path, monkeypatch):
    """The job process checks R/DNAcopy (stage run) and says so in the snapshot; the Snakemake
    it starts does not probe again, any other process does."""
    import os

    from localgene.cnvkit import options_snapshot
    from localgene.cnvkit import plan as job_plan
    from localgene.cnvkit.options import check_options
    from localgene.errors import EnvironmentProblem

    probes = []

    def probe(plan):
        probes.append(plan.instance_id)
        raise EnvironmentProblem("segment_conf: no R here")

    monkeypatch.setattr(job_plan, "check_environment", probe)
    config = {**body, "instance_id": "x"}
    snapshot = tmp_path / "options.json"
    checked = check_options(config, cores=2)
    for checked_by, trusted in ((os.getppid(), True), (os.getpid(), False), (None, False)):
        options_snapshot.save_snapshot(checked, config, snapshot, machine_checked_by=checked_by)
        if trusted:
            assert check_job(config, cfg, stage="workflow", cores=2, snapshot=snapshot).plan is not None
        else:
            with pytest.raises(EnvironmentProblem):
                check_job(config, cfg, stage="workflow", cores=2, snapshot=snapshot)
    assert probes == ["x", "x"]
    with pytest.raises(EnvironmentProblem):  # the job process itself always checks
        check_job(body, cfg, stage="run", cores=2)
