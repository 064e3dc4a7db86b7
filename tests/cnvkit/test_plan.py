"""Planning a job: sample names, refused bodies, and the machine's ability to run it."""

import os
import shutil
import subprocess
import sys

import pytest

from localgene.cnvkit import plan as job_plan
from localgene.errors import EnvironmentProblem, InputNotFound, InvalidRequest


def body(**fields):
    base = {
        "experimental_inputs": ["s3a://genes/cnvkit/Son_S2_ALL.sort.mkdup.bam"],
        "control_inputs": ["/data/Father_S5.bam", "file:///data/Mother_S1.recal.bam"],
        "output_dir": "/out",
        "ref": "/data/hg38.fa",
        "bed": "/data/targets.bed",
    }
    base.update(fields)
    return base


def test_sample_names_follow_cnvkit():
    from cnvlib.core import fbase

    for path in ["a/Son_S2_ALL.sort.mkdup.bam", "x/Mother_S1.recal.bam", "T1.bam", "s3a://b/k/N.cram"]:
        assert job_plan.sample_name(path) == fbase(path)


def test_plan_names_samples_and_fields():
    p = job_plan.build_plan(body(), cores=2)
    assert list(p.experimental) == ["Son_S2_ALL.sort.mkdup"]
    assert list(p.controls) == ["Father_S5", "Mother_S1"]
    assert p.field_of("Mother_S1") == "control_inputs[1]"
    assert p.annotation is None


def test_duplicate_sample_names_are_refused():
    with pytest.raises(InvalidRequest, match=r"^control_inputs\[1\]: sample name 'N1' is also used by control_inputs\[0\]"):
        job_plan.build_plan(body(control_inputs=["/a/N1.bam", "/b/N1.bam"]))


def test_non_bam_inputs_are_refused():
    with pytest.raises(InvalidRequest, match=r"^experimental_inputs\[0\]: .* is not a BAM file"):
        job_plan.build_plan(body(experimental_inputs=["/data/T1.fastq.gz"]))


def test_annotation_required_when_annotating():
    with pytest.raises(InvalidRequest, match="^annotation_file: is required when has_annotate is true"):
        job_plan.build_plan(body(has_annotate=True))
    p = job_plan.build_plan(body(has_annotate=False, annotation_file="/g.gff3"))
    assert p.annotation is None
    assert any("annotation_file is ignored" in w for w in p.warnings)


def test_missing_local_input_is_refused_naming_the_field(tmp_path):
    p = job_plan.build_plan(body(ref=str(tmp_path / "missing.fa")))
    with pytest.raises(InputNotFound, match=r"^ref: .*missing.fa does not exist"):
        job_plan.check_local_files(p)


def test_cbs_without_r_is_refused_with_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no Rscript here
    job_plan._dnacopy_problem.cache_clear()
    try:
        p = job_plan.build_plan(body(segment_conf=""), cores=2)  # cbs is CNVkit's default
        with pytest.raises(EnvironmentProblem) as err:
            job_plan.check_environment(p)
        message = str(err.value)
        assert "r-base-core r-bioc-dnacopy" in message and "-m hmm" in message
        # Another method needs no R.
        job_plan.check_environment(job_plan.build_plan(body(segment_conf="-m haar"), cores=2))
    finally:
        job_plan._dnacopy_problem.cache_clear()


def test_cbs_with_r_but_without_dnacopy_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "Rscript"
    real = shutil.which("Rscript")
    assert real, "R is a test dependency (make test installs r-base-core)"
    # A real R whose library path holds no DNAcopy.
    fake.write_text(f"#!/bin/sh\nR_LIBS_SITE=/nonexistent R_LIBS_USER=/nonexistent exec {real} --no-site-file \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("R_LIBS", "/nonexistent")
    job_plan._dnacopy_problem.cache_clear()
    try:
        problem = job_plan._dnacopy_problem()
    finally:
        job_plan._dnacopy_problem.cache_clear()
    if problem is None:
        pytest.fail("DNAcopy still visible to R: the test could not hide it")
    assert "DNAcopy" in problem


def test_a_probe_started_ahead_gives_the_check_its_answer(monkeypatch, tmp_path):
    """`localgene run` starts R's probe beside its imports; the check takes that answer (the
    same one) and starts no probe of its own, with DNAcopy present and without it."""
    import subprocess

    fake = tmp_path / "Rscript"
    real = shutil.which("Rscript")
    assert real, "R is a test dependency (make test installs r-base-core)"
    fake.write_text(f"#!/bin/sh\nR_LIBS_SITE=/nonexistent R_LIBS_USER=/nonexistent exec {real} --no-site-file \"$@\"\n")
    fake.chmod(0o755)
    job_plan._dnacopy_problem.cache_clear()
    try:
        job_plan.start_dnacopy_probe()
        with monkeypatch.context() as m:
            m.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a second probe was started"))
            assert job_plan._dnacopy_problem() is None  # the real R: DNAcopy is there
        monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
        monkeypatch.setenv("R_LIBS", "/nonexistent")
        job_plan._dnacopy_problem.cache_clear()
        job_plan.start_dnacopy_probe()
        with monkeypatch.context() as m:
            m.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a second probe was started"))
            problem = job_plan._dnacopy_problem()
        assert problem is not None and "DNAcopy" in problem
        assert job_plan._STARTED == {}
    finally:
        job_plan._dnacopy_problem.cache_clear()


def test_check_command_refuses_a_bad_job_with_one_line(tmp_path):
    job = tmp_path / "job.json"
    job.write_text('{"experimental_inputs": ["T.bam"], "control_inputs": ["N.bam"], "output_dir": "o",'
                   ' "ref": "r.fa", "bed": "t.bed", "segment_conf": "-m cbs; rm -rf /"}')
    proc = subprocess.run([sys.executable, "-m", "localgene", "check", str(job)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "localgene check: error: segment_conf: contains shell syntax (';'); give plain CNVkit options "
        "such as '--flag value' (nothing is ever run through a shell)"
    ]
