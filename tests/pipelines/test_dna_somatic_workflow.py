"""DNA_SOMATIC on the seeded tumor/normal pair: planted somatic variants found, germline not."""

from __future__ import annotations

import json

import pysam
import pytest
from browser_helpers import open_report, table_rows
from dna_helpers import bcftools_count, check_report_counts, number, run_workflow
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
    def near(r):
        return any(k[0] == r.reference_name and r.reference_start - 1000 < k[1] < r.reference_end + 1000 for k in passing)
    assert all(near(r) for r in reads[::50])


def test_report_counts_filter_reasons_and_somatic_calls(somatic_run):
    """The report beside the VCF: counts per set and sample equal bcftools' counts of the
    delivered VCF; every filtered-by reason with its count; the SOMATIC-classified calls."""
    body, tmp, calls, truth = somatic_run
    vcf = body["output"]
    delivered = tmp / "out" / "somatic.report.html"
    assert delivered.read_bytes() == (tmp / "job" / "results" / "report.html").read_bytes()
    opened = open_report(delivered, "report-dna-somatic", tables=(".variant-counts", ".filters", ".reads"))
    assert all(u.startswith(("file:", "data:")) for u in opened["requests"]), opened["requests"]
    check_report_counts(opened, vcf, {
        "all records": (), "PASS records": ("-f", "PASS,."),
        "SOMATIC records": ("-i", "INFO/SOMATIC=1"), "SOMATIC and PASS": ("-i", "INFO/SOMATIC=1", "-f", "PASS,."),
        "demo_tumor: its calls": ("-s", "demo_tumor", "-c", "1"),
        "demo_normal: its calls": ("-s", "demo_normal", "-c", "1"),
        "demo_normal: its PASS calls": ("-s", "demo_normal", "-c", "1", "-f", "PASS,.")})
    rows = {r["set"]: r for r in table_rows(opened, ".variant-counts")}
    assert number(rows["SOMATIC and PASS"]["records"]) == len(_passing_somatic(calls))
    filters = {r["FILTER"]: number(r["records"]) for r in table_rows(opened, ".filters")}
    for reason in ("PASS", "normal_evidence", "panel_of_normals", "germline", "orientation"):
        assert filters[reason] == bcftools_count(vcf, "-f", reason) > 0, reason
    assert set(filters) == {f for c in calls.values() for f in c["filters"]}
    summary = json.loads((tmp / "job" / "results" / "job.json").read_text())
    assert all(filters.get(k, 0) == v for k, v in summary["counts"].items() if k != "somatic")
    reads = {r["role"]: r for r in table_rows(opened, ".reads")}
    assert set(reads) == {"tumor", "normal"} and all(0 < number(r["duplicate rate %"]) < 10 for r in reads.values())
    images = {i["alt"]: i for i in opened["images"]}
    assert images["variant counts by type and FILTER values"]["w"] > 300
    assert "Mutect2 cannot be installed here" in opened["text"] and "freebayes -f" in opened["text"]


def test_job_browser_opens_the_somatic_report(somatic_run, tmp_path):
    """The job browser (/ui) in Chromium shows this finished job and opens its report.

    The job ran for real above (plain Snakemake); here it is recorded in a fresh store as a
    FINISHED DNA_SOMATIC job with that job folder's report, as the worker would leave it."""
    import shutil
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))  # tests/api's helpers
    from api_helpers import LiveServer
    from browser_helpers import browser, screenshot

    from localgene import settings as settings_mod
    from localgene.api import users as users_mod
    from localgene.api.app import ApiSettings, create_app
    from localgene.jobs.bodies import new_record
    from localgene.jobs.status import Status
    from localgene.store import Store

    body, tmp, _, _ = somatic_run
    cfg = settings_mod.load({"LOCALGENE_HOME": str(tmp_path / "home")}).ensure_dirs()
    store = Store.open(cfg)
    rec = store.submit(new_record("local", "alice", "DNA_SOMATIC", body))
    store.transition(rec.instance_id, Status.RUNNING)
    store.set_progress(rec.instance_id, 20, 20)
    store.transition(rec.instance_id, Status.FINISHED)
    (cfg.job_dir(rec.instance_id) / "results").mkdir(parents=True)
    shutil.copyfile(tmp / "job" / "results" / "report.html", cfg.job_dir(rec.instance_id) / "results" / "report.html")
    users_path = tmp_path / "users.yaml"
    _, token = users_mod.add_user(users_path, "alice", tenant="lab", role="user", projects=["local"])
    with LiveServer(create_app(ApiSettings(cfg, users_path=users_path))) as server, browser() as ctx:
        page = ctx.new_page()
        page.goto(server.url + "/ui/")
        page.fill("#token", token)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector(f"#jobs tr[data-id='{rec.instance_id}']")
        page.locator(f"#jobs tr[data-id='{rec.instance_id}'] a").click()
        page.wait_for_selector("#report-link")
        with ctx.expect_page() as popup:
            page.click("#report-link")
        report = popup.value
        report.wait_for_load_state("load")
        assert report.title().startswith("DNA somatic variant")
        # styled: the report's stylesheet passes the policy the browser page hands on to it
        assert report.evaluate("getComputedStyle(document.querySelector('.page-header')).backgroundColor") \
            == "rgb(24, 35, 58)"
        widths = report.evaluate("[...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        assert widths and all(w > 0 for w in widths), widths
        assert report.locator(".variant-counts tbody tr").count() == 8
        assert report.locator(".filters tbody tr").count() >= 5
        screenshot(report, "ui-report-dna-somatic")
