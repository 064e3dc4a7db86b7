"""The CBS pitfall check counts bins with no coverage the way CNVkit's --drop-low-coverage does."""

from __future__ import annotations

import numpy as np
import pandas as pd

from localgene.cnvkit.segment_check import cbs_warning, check_segment_inputs, low_coverage_bins


def write_cnr(path, dead: int, *, seed: int = 1):
    """A .cnr of 200 target bins on chr1; ``dead`` of them in the middle with no reads."""
    rng = np.random.default_rng(seed)
    n = 200
    start = np.arange(n) * 1000 + 10_000
    log2 = rng.normal(0, 0.1, n)
    depth = rng.uniform(80, 120, n)
    mid = slice(n // 2, n // 2 + dead)
    log2[mid], depth[mid] = -20.0 + rng.normal(0, 0.3, dead), 0.0  # CNVkit's log2(0) stand-in, after fix
    pd.DataFrame({"chromosome": "chr1", "start": start, "end": start + 200, "gene": "G", "log2": log2,
                  "depth": depth, "weight": 1.0}).to_csv(path, sep="\t", index=False)
    return path


def test_bins_without_coverage_are_counted_and_named_once_per_sample(tmp_path):
    dead = write_cnr(tmp_path / "T2.cnr", dead=7)
    fine = write_cnr(tmp_path / "T1.cnr", dead=0)
    assert low_coverage_bins(dead) == 7 and low_coverage_bins(fine) == 0
    found = check_segment_inputs({"T1": fine, "T2": dead}, method="cbs", drop_low_coverage=False)
    assert found == {"T2": cbs_warning("T2", 7)}
    assert found["T2"].startswith("segment_conf: T2.cnr holds 7 bins with no coverage (log2 about -20); ")
    assert "--drop-low-coverage" in found["T2"] and "#683" in found["T2"]
    assert "homozygous deletions" in found["T2"]
    assert cbs_warning("T2", 1).startswith("segment_conf: T2.cnr holds 1 bin with")


def test_no_warning_where_the_pitfall_does_not_apply(tmp_path):
    dead = write_cnr(tmp_path / "T2.cnr", dead=7)
    assert check_segment_inputs({"T2": dead}, method="cbs", drop_low_coverage=True) == {}
    for method in ("hmm", "haar", "none", "hybrid"):
        assert check_segment_inputs({"T2": dead}, method=method, drop_low_coverage=False) == {}


def test_the_check_runs_as_its_own_process_and_writes_its_answer(tmp_path):
    """What the summary step runs where there is no CNVkit step server."""
    import json
    import subprocess
    import sys


    cnr = tmp_path / "S.cnr"
    rows = ["chromosome\tstart\tend\tgene\tlog2\tdepth\tweight"]
    rows += [f"chr1\t{i * 1000}\t{i * 1000 + 500}\tG{i}\t{-20 if i < 3 else 0.1}\t{0 if i < 3 else 50}\t1"
             for i in range(10)]
    cnr.write_text("\n".join(rows) + "\n")
    out = tmp_path / "found.json"
    request = {"cnrs": {"S": str(cnr)}, "method": "cbs", "drop_low_coverage": False, "out": str(out)}
    proc = subprocess.run([sys.executable, "-m", "localgene.cnvkit.segment_check", json.dumps(request)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(out.read_text())
    assert list(found) == ["S"] and "S.cnr holds 3 bins with no coverage" in found["S"]
    assert proc.stdout.startswith("warning: segment_conf: S.cnr holds 3 bins")



def test_the_workflows_segment_check_step_writes_what_the_summary_records(tmp_path, monkeypatch):
    """Rule segment_check (localgene.cnvkit.workflow_steps.segment_check), here without a step
    server: the check as a process of its own, one timeline record; nothing to check without CBS."""
    import json
    from types import SimpleNamespace

    import pytest

    from localgene.cnvkit import workflow_steps
    from localgene.cnvkit.step import ENV_SERVER
    from localgene.run import timeline

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_SERVER, raising=False)
    cnrs = {"T1": str(write_cnr(tmp_path / "T1.cnr", dead=0)), "T2": str(write_cnr(tmp_path / "T2.cnr", dead=7))}

    workflow_steps.segment_check(SimpleNamespace(cnrs=cnrs, method="cbs", drop_low_coverage=False),
                                 "check.json", "check.log")
    assert json.loads((tmp_path / "check.json").read_text()) == {"T2": cbs_warning("T2", 7)}
    assert [(r["step"], r["runner"]) for r in timeline.read()] == [("segment_check", "process")]

    for method, drop, why in (("haar", False, "segment runs -m haar"),
                              ("cbs", True, "segment runs with --drop-low-coverage")):
        workflow_steps.segment_check(SimpleNamespace(cnrs=cnrs, method=method, drop_low_coverage=drop),
                                     "none.json", "none.log")
        assert json.loads((tmp_path / "none.json").read_text()) == {}
        assert (tmp_path / "none.log").read_text() == f"no check needed: {why}\n"
    assert timeline.read()[-1]["runner"] == "thread"

    # a .cnr CNVkit cannot read: the step fails, naming its log, which holds the reason
    (tmp_path / "T1.cnr").write_text("not a table\n")
    with pytest.raises(workflow_steps.StepFailed, match="see bad.log"):
        workflow_steps.segment_check(SimpleNamespace(cnrs=cnrs, method="cbs", drop_low_coverage=False),
                                     "bad.json", "bad.log")
    assert "ValueError: data table must have at least columns" in (tmp_path / "bad.log").read_text()
