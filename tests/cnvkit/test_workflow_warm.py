"""The demo job with its CNVkit step server, and without it: same results, a timeline, clean stops.

``localgene run`` starts the job's CNVkit step server (localgene.cnvkit.server) for local runs;
``LOCALGENE_WARM=0`` runs every CNVkit step as its own ``cnvkit.py`` process instead. Both runs
must write byte-identical results (PDFs and PNGs aside: PDFs carry their creation time). The
equivalence with CNVkit typed by hand is tests/cnvkit/test_workflow.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from workflow_helpers import LOCALGENE, run_job

from localgene.errors import WorkflowFailed
from localgene.run import workflow

pytestmark = pytest.mark.workflow

PATIENCE = 600.0
#: The CNVkit steps of the demo job (coverage runs in its own script: rules/coverage.smk).
CNVKIT_RULES = {"access", "target", "antitarget", "reference", "fix", "segment", "call",
                "genemetrics", "sex", "scatter", "diagram"}
COMPARED = ("*.bed", "*.cnn", "*.cnr", "*.cns", "*.tsv")


def demo_body(demo_data, out):
    body = json.loads((demo_data / "job.json").read_text())
    body["output_dir"] = str(out)
    return body


@pytest.fixture(scope="module")
def warm_run(demo_data, tmp_path_factory):
    return run_job(demo_body(demo_data, tmp_path_factory.mktemp("warm-out")), tmp_path_factory.mktemp("warm"))


def test_the_timeline_says_where_the_time_went(warm_run, truth_samples):
    timeline = warm_run.summary()["timeline"]
    keys = {"step", "wildcards", "log", "start", "end", "wall_s", "cpu_s", "max_rss_mb"}
    assert all(keys <= set(r) for r in timeline)
    steps = {(r["step"], tuple(sorted(r["wildcards"].items()))) for r in timeline}
    for rule in CNVKIT_RULES:
        assert any(step == rule for step, _ in steps), rule
    for sample in truth_samples["experimental"]:
        for rule in ("fix", "segment", "call", "genemetrics", "scatter", "diagram"):
            assert (rule, (("sample", sample),)) in steps
    for r in timeline:
        assert r["end"] >= r["start"] and abs(r["wall_s"] - (r["end"] - r["start"])) < 0.01
        assert r["cpu_s"] >= 0 and r["max_rss_mb"] > 0
        assert (warm_run.job_dir / r["log"]).is_file(), r
        if r["step"] in CNVKIT_RULES:
            assert r["runner"] == "server", r  # CNVkit imported once, by the server
    assert [r["start"] for r in timeline] == sorted(r["start"] for r in timeline)
    # segment (CBS in R) is one of the costly steps, and its R process is counted in its CPU
    segment = next(r for r in timeline if r["step"] == "segment")
    assert segment["cpu_s"] > 0.5
    # localgene's own steps run in Snakemake's threads (no process of their own) ...
    for rule in ("reference_fasta", "sample_bam", "check_inputs", "annotation"):
        assert {r["runner"] for r in timeline if r["step"] == rule} == {"thread"}, rule
    # ... and each sample's coverage is forked by the server, CNVkit's coverage (small BAMs) in a
    # child of it whose CPU is the step's (this job's samples are computed, none reused)
    coverage = [r for r in timeline if r["step"] == "coverage"]
    assert len(coverage) == len(truth_samples["experimental"]) + len(truth_samples["controls"])
    assert all(r["runner"] == "server" and r["cpu_s"] > 0.05 for r in coverage), coverage
    server_log = (warm_run.job_dir / "logs" / "cnvkit-server.log").read_text()
    assert "imported CNVkit" in server_log and server_log.rstrip().endswith("stopped")
    # the report page (after job.json, so only in logs/timeline.jsonl) is forked by the server,
    # where pandas and jinja2 are imported already
    records = [json.loads(line) for line in (warm_run.job_dir / "logs" / "timeline.jsonl").read_text().splitlines()]
    assert [r["runner"] for r in records if r["step"] == "report_page"] == ["server"]
    assert "<html" in (warm_run.results / "report.html").read_text()[:2000].lower()


@pytest.fixture(scope="module")
def truth_samples(demo_data):
    return json.loads((demo_data / "truth.json").read_text())


def test_without_the_server_every_result_is_byte_identical(warm_run, demo_data, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALGENE_WARM", "0")
    cold = run_job(demo_body(demo_data, tmp_path / "out"), tmp_path / "home")
    assert not (cold.job_dir / "logs" / "cnvkit-server.log").exists()
    # every CNVkit step and coverage its own process; localgene's own steps in Snakemake's threads
    runners = {r["step"]: r["runner"] for r in cold.summary()["timeline"]}
    assert {runners[s] for s in CNVKIT_RULES | {"coverage"}} == {"process"}
    assert set(runners.values()) == {"process", "thread"}
    compared = 0
    for pattern in COMPARED:
        for ours in sorted(warm_run.results.rglob(pattern)):
            rel = ours.relative_to(warm_run.results)
            assert ours.read_bytes() == (cold.results / rel).read_bytes(), rel
            compared += 1
    assert compared >= 20
    for png in warm_run.results.rglob("*.png"):
        assert (cold.results / png.relative_to(warm_run.results)).stat().st_size > 0
    # and each step's log is what cnvkit.py itself wrote (logs that print timings aside)
    for log in ("call/T1.log", "segment/T1.log", "reference.log"):
        assert (warm_run.job_dir / "logs" / log).read_text() == (cold.job_dir / "logs" / log).read_text(), log


def test_a_failing_step_names_itself_and_the_job_resumes_after_a_fix(demo_data, tmp_path):
    body = demo_body(demo_data, tmp_path / "out")
    job_dir = tmp_path / "job"
    workflow.prepare_job(body, job_dir, instance_id=None, cores=2)
    workflow.run_workflow(job_dir, cores=2, extra_args=["results/samples/T1.cnr"])
    cnr = job_dir / "results" / "samples" / "T1.cnr"
    good = cnr.read_bytes()
    cnr.write_text("chromosome\tstart\tend\tgene\tlog2\nchr1\tone\t2\t-\t0.1\n")
    with pytest.raises(WorkflowFailed) as failed:
        workflow.run_workflow(job_dir, cores=2, extra_args=["results/samples/T1.cns"])
    message = str(failed.value)
    assert message.startswith("step 'segment' (sample=T1) failed: ")
    assert message.endswith("[log: logs/segment/T1.log]") and "Traceback" not in message
    log = (job_dir / "logs" / "segment" / "T1.log").read_text()
    assert log.startswith("$ cnvkit.py segment results/samples/T1.cnr") and "Traceback" in log
    assert not (job_dir / "results" / "samples" / "T1.cns").exists()
    cnr.write_bytes(good)
    workflow.run_workflow(job_dir, cores=2, extra_args=["results/samples/T1.cns"])
    assert (job_dir / "results" / "samples" / "T1.cns").stat().st_size > 100


def group_members(pgid: int) -> list[tuple[int, str]]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append((int(proc.name), cmdline))
    return found


def test_ctrl_c_mid_step_leaves_no_process_of_the_job(demo_data, tmp_path):
    (tmp_path / "job.json").write_text(json.dumps(demo_body(demo_data, tmp_path / "out")))
    env = dict(os.environ, LOCALGENE_HOME=str(tmp_path / "home"))
    env.pop("LOCALGENE_WARM", None)
    proc = subprocess.Popen([*LOCALGENE, "run", str(tmp_path / "job.json"), "--cores", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own group, as a terminal gives it

    def step_running_in_server():
        for pid, cmd in group_members(proc.pid):
            if "localgene.cnvkit.server" in cmd:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                if children:
                    return pid
        return None

    deadline = time.monotonic() + PATIENCE
    server = None
    while server is None and time.monotonic() < deadline and proc.poll() is None:
        server = step_running_in_server()
        time.sleep(0.05)
    assert server, "no CNVkit step ran in the server"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    _, stderr = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 60
    while group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_members(proc.pid) == []
