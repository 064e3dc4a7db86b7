"""DNA_SOMATIC on the seeded tumor/normal pair: planted somatic variants found, germline not."""

from __future__ import annotations

import json

import pysam
import pytest
from dna_helpers import run_workflow
from dna_truth import load_truth, read_calls

from localgene.pipelines import dna, dna_memory

pytestmark = pytest.mark.workflow


def _key(v):
    return (v["chrom"], v["pos"], v["ref"], v["alt"])


@pytest.fixture(scope="module")
def somatic_run(dna_somatic_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("somatic")
    body = json.loads((dna_somatic_data / "job.json").read_text())
    body.update(output=str(tmp / "out" / "somatic.vcf.gz"), mutect_bam_output=str(tmp / "out" / "tumor.bam"))
    proc = run_workflow(body, tmp / "job")
    assert proc.returncode == 0, proc.stderr[-3000:]
    calls = read_calls(body["output"], "demo_tumor", passing_only=False)
    return body, tmp, calls, load_truth(dna_somatic_data)


def _passing_somatic(calls):
    return {k for k, c in calls.items() if c["somatic"] and c["filters"] == ["PASS"]}


def test_somatic_recall_and_precision(somatic_run):
    _, _, calls, truth = somatic_run
    expected = {_key(v) for v in truth["somatic"] if v["expected_filter"] == "PASS"}
    called = _passing_somatic(calls)
    assert len(expected) > 60
    recall = len(expected & called) / len(expected)
    precision = len(expected & called) / len(called)
    assert recall >= 0.9, f"recall {recall:.3f}"
    assert precision >= 0.95, f"precision {precision:.3f}: false calls {sorted(called - expected)[:10]}"
    for kind in ("snv", "indel"):  # both kinds, not only the majority
        want = {_key(v) for v in truth["somatic"] if v["expected_filter"] == "PASS" and v["kind"] == kind}
        assert len(want & called) / len(want) >= 0.85, kind


def test_no_germline_site_is_called_somatic(somatic_run):
    _, _, calls, truth = somatic_run
    chrom, start, end = truth["excluded_region"]  # not called there: outside the intervals
    germline = {_key(v) for v in truth["germline"] if not (v["chrom"] == chrom and start <= v["pos"] <= end)}
    found = germline & set(calls)
    assert len(found) / len(germline) > 0.95  # freebayes does report them (QUAL passes them) ...
    assert not [k for k in found if calls[k]["somatic"]]  # ... but the classification does not
    assert all("normal_evidence" in calls[k]["filters"] for k in found)


def test_pon_germline_resource_and_intervals(somatic_run):
    _, _, calls, truth = somatic_run
    by_filter = {}
    for v in truth["somatic"]:
        by_filter.setdefault(v["expected_filter"], []).append(_key(v))
    for name in ("panel_of_normals", "germline"):
        sites = by_filter[name]
        assert sites and all(k in calls and name in calls[k]["filters"] for k in sites), name
    outside = by_filter["outside_intervals"]
    assert outside and not [k for k in outside if k in calls]
    chrom, start, end = truth["excluded_region"]
    assert not [k for k in calls if k[0] == chrom and start <= k[1] <= end]


def test_orientation_artifacts_are_filtered(somatic_run):
    _, _, calls, truth = somatic_run
    for artifact in truth["orientation_artifacts"]:
        call = calls.get(_key(artifact))
        assert call is not None and call["somatic"], artifact  # tumor-only alt reads: a candidate ...
        assert call["filters"] == ["orientation"], (artifact, call)  # ... that only the F1R2/F2R1 test rejects
    passing = {_key(v) for v in truth["somatic"] if v["expected_filter"] == "PASS"}
    assert not [k for k in passing if k in calls and "orientation" in calls[k]["filters"]]


def test_alignment_artifact_is_filtered(somatic_run):
    """The tumor-only SNV of the planted segmental duplication: supported only by low-MAPQ
    reads, somatic by its likelihoods, and FILTERed ``alignment`` (is_filter_by_alignmentArtifacts)
    and by nothing else; no true somatic site is."""
    body, _, calls, truth = somatic_run
    assert body["is_filter_by_alignmentArtifacts"] is True
    (artifact,) = truth["alignment_artifacts"]
    call = calls.get(_key(artifact))
    assert call is not None and call["somatic"], artifact
    assert call["filters"] == ["alignment"], (artifact, call)
    with pysam.VariantFile(body["output"]) as vf:
        (rec,) = [r for r in vf.fetch(artifact["chrom"], artifact["pos"] - 1, artifact["pos"]) if r.alts == (artifact["alt"],)]
        mqm = rec.info["MQM"]
        assert (mqm[0] if isinstance(mqm, tuple) else mqm) < dna.MIN_ALT_MAPQ
    passing = {_key(v) for v in truth["somatic"] if v["expected_filter"] == "PASS"}
    assert not [k for k in passing if k in calls and "alignment" in calls[k]["filters"]]


def test_sample_columns_summary_and_tumor_bam(somatic_run):
    body, tmp, calls, _ = somatic_run
    with pysam.VariantFile(body["output"]) as vf:
        assert list(vf.header.samples) == ["demo_tumor", "demo_normal"]
        assert {"SOMATIC", "TLOD", "NLOD"} <= set(vf.header.info)
    summary = json.loads((tmp / "job" / "results" / "job.json").read_text())
    assert summary["counts"]["PASS"] == len(_passing_somatic(calls))
    assert any("Mutect2" in w for w in summary["warnings"])
    # Every step before the summary left its benchmark record; the declarations are dna_memory's.
    ran = {"dna_align.tumor", "dna_align.normal", "dna_markdup.tumor", "dna_call_somatic.0", "dna_classify", "dna_final_vcf"}
    assert ran <= set(summary["peak_rss_mb"]), sorted(summary["peak_rss_mb"])
    assert summary["peak_rss_mb"]["dna_align.tumor"] > 0
    ref_mb = dna_memory.ref_mb(body["ref"])
    assert summary["declared_mem_mb"]["dna_align"] == dna_memory.mem_mb("dna_align", ref_mb, 2)
    assert summary["declared_mem_mb"]["dna_call_somatic"] == dna_memory.mem_mb("dna_call_somatic")
    passing = sorted(_passing_somatic(calls))
    with pysam.AlignmentFile(body["mutect_bam_output"]) as bam:
        assert [rg["SM"] for rg in bam.header.to_dict()["RG"]] == ["demo_tumor"]
        reads = list(bam.fetch())
    assert reads
    near = lambda r: any(k[0] == r.reference_name and r.reference_start - 1000 < k[1] < r.reference_end + 1000 for k in passing)
    assert all(near(r) for r in reads[::50])
