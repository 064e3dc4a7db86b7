"""Refused and failing jobs: a clear message naming the field or step, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from workflow_helpers import LOCALGENE

from localgene.run.workflow import failure_message, workflow_dir


def snakemake(args, cwd):
    wf = workflow_dir()
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(wf / "Snakefile"), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_plain_snakemake_takes_a_job_body(demo_data, tmp_path):
    proc = snakemake(["-n", "--cores", "2", "--configfile", str(demo_data / "job.json"),
                      "--directory", str(tmp_path)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    for rule in ("access", "target", "antitarget", "coverage", "reference", "fix", "segment",
                 "call", "genemetrics", "sex", "scatter", "diagram", "deliver"):
        assert f"rule {rule}:" in out or f"localrule {rule}:" in out or f"\n{rule} " in out, rule


def test_plain_snakemake_refuses_a_bad_option_before_any_step(demo_data, tmp_path):
    body = json.loads((demo_data / "job.json").read_text())
    body["segment_conf"] = "-m hmm -t 0.001"
    (tmp_path / "job.json").write_text(json.dumps(body))
    proc = snakemake(["--cores", "2", "--configfile", str(tmp_path / "job.json"), "--directory", str(tmp_path)], tmp_path)
    assert proc.returncode != 0
    assert "segment_conf: -t 0.001 with -m hmm" in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists() and not (tmp_path / "inputs").exists()


def test_plain_snakemake_checks_the_config_schema(demo_data, tmp_path):
    body = json.loads((demo_data / "job.json").read_text())
    body["control_inputs"] = "N1.bam"  # a string, not a list
    (tmp_path / "job.json").write_text(json.dumps(body))
    proc = snakemake(["-n", "--cores", "1", "--configfile", str(tmp_path / "job.json"), "--directory", str(tmp_path)], tmp_path)
    assert proc.returncode != 0
    assert "control_inputs" in proc.stderr + proc.stdout


def run_cli(body, tmp_path):
    (tmp_path / "job.json").write_text(json.dumps(body))
    env = dict(os.environ, LOCALGENE_HOME=str(tmp_path / "home"))
    return subprocess.run([*LOCALGENE, "run", str(tmp_path / "job.json")], capture_output=True, text=True,
                          env=env, timeout=600)


def test_corrupt_bam_fails_early_with_the_step_and_reason(demo_data, tmp_path):
    body = json.loads((demo_data / "job.json").read_text())
    broken = tmp_path / "T1.bam"
    broken.write_bytes((demo_data / "T1.bam").read_bytes()[:50_000])  # truncated
    body["experimental_inputs"][0] = str(broken)
    body["output_dir"] = str(tmp_path / "out")
    proc = run_cli(body, tmp_path)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("localgene run: error: step 'sample_bam' (sample=T1) failed: experimental_inputs[0]: ")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_refused_job_never_starts(demo_data, tmp_path):
    body = json.loads((demo_data / "job.json").read_text())
    body["call_conf"] = "-o /etc/passwd"
    proc = run_cli(body, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("localgene run: error: call_conf: -o/--output names an output file; localgene "
                                   "writes every output inside the job's own folder and delivers it to output_dir")
    assert not (tmp_path / "home" / "jobs").exists() or not any((tmp_path / "home" / "jobs").iterdir())


def test_failure_message_keeps_the_exception_not_the_traceback(tmp_path):
    (tmp_path / "logs" / "segment").mkdir(parents=True)
    (tmp_path / "logs" / "segment" / "T1.log").write_text(
        "$ cnvkit.py segment results/samples/T1.cnr -o results/samples/T1.cns\n"
        "Traceback (most recent call last):\n  File \"/x/cnvkit.py\", line 9, in <module>\n    args.func(args)\n"
        "ValueError: width must be either a fraction between 0 and 1 or an integer greater than 1 (got 0)\n")
    log = tmp_path / "logs" / "snakemake.log"
    log.write_text("Error in rule segment:\n    message: None\n    jobid: 12\n    wildcards: sample=T1\n"
                   "    log: logs/segment/T1.log (check log file(s) for error details)\n")
    message = failure_message(log, tmp_path)
    assert message == ("step 'segment' (sample=T1) failed: ValueError: width must be either a fraction between "
                       "0 and 1 or an integer greater than 1 (got 0) [log: logs/segment/T1.log]")


def test_failure_message_ignores_the_job_block_that_follows_the_error(tmp_path):
    (tmp_path / "logs" / "inputs").mkdir(parents=True)
    (tmp_path / "logs" / "inputs" / "T1.log").write_text("error: experimental_inputs[0]: T1.bam is not a readable BAM file\n")
    log = tmp_path / "logs" / "snakemake.log"
    log.write_text(
        "localrule sample_bam:\n    output: inputs/bam/T1.bam\n    jobid: 4\n    wildcards: sample=T1\n\n"
        "Error in rule sample_bam:\n    message: None\n    jobid: 4\n    output: inputs/bam/T1.bam\n"
        "    log: logs/inputs/T1.log (check log file(s) for error details)\nExecute 1 jobs...\n\n"
        "[Mon Nov 23 11:33:51 2026]\nlocalrule reference_fasta:\n    output: inputs/reference.fa\n"
        "    log: logs/inputs/reference.log\n    jobid: 7\n")
    assert failure_message(log, tmp_path) == (
        "step 'sample_bam' (sample=T1) failed: experimental_inputs[0]: T1.bam is not a readable BAM file "
        "[log: logs/inputs/T1.log]")
