"""The whole CNVkit workflow on the demo data: the biology is right, and nothing is faked.

The demo data (tests/conftest.py ``demo_data``) holds three controls and two experimental
samples with planted copy-number events whose truth is in ``truth.json``. One run of the demo
job (the session's ``cnvkit_job``) is shared by these tests and the report and UI tests.
"""

from __future__ import annotations

import json
import struct

import pytest
from workflow_helpers import assert_same_table, expected_cn_ok, overlap_cn, read_table

pytestmark = pytest.mark.workflow

AUTOSOMES_ONLY = ("chrX", "chrY")


@pytest.fixture(scope="module")
def truth(demo_data):
    return json.loads((demo_data / "truth.json").read_text())


@pytest.fixture(scope="module")
def demo_run(cnvkit_job):
    """The session's finished demo job (tests/conftest.py), shared with the report and UI tests."""
    return cnvkit_job


def planted(truth):
    for sample, info in truth["samples"].items():
        for event in info.get("events", []):
            yield sample, event


def test_every_planted_event_is_called_with_its_copy_number(demo_run, truth):
    events = list(planted(truth))
    kinds = {e["kind"] for _, e in events}
    assert {"loss", "deep_loss", "gain", "amplification"} <= kinds
    for sample, event in events:
        calls = read_table(demo_run.results / "samples" / f"{sample}.call.cns")
        cn = overlap_cn(calls, event["chrom"], event["start"], event["end"])
        assert expected_cn_ok(event["kind"], event["cn"], cn), (sample, event, cn)


def test_no_large_false_calls_on_autosomes(demo_run, truth):
    for sample, info in truth["samples"].items():
        if info.get("role") == "control" or not (demo_run.results / "samples" / f"{sample}.call.cns").exists():
            continue
        calls = read_table(demo_run.results / "samples" / f"{sample}.call.cns")
        calls = calls[~calls.chromosome.isin(AUTOSOMES_ONLY)]
        for _, seg in calls[calls.cn != 2].iterrows():
            inside = any(
                e["chrom"] == seg.chromosome and seg.start < e["end"] and seg.end > e["start"]
                for e in info.get("events", [])
            )
            assert inside or seg.end - seg.start < 100_000, f"{sample}: false call {seg.to_dict()}"


def test_sex_of_every_sample_is_inferred(demo_run, truth):
    sex = read_table(demo_run.results / "sex.tsv")
    inferred = {row.sample.rsplit("/", 1)[-1].split(".")[0]: row.sex for row in sex.itertuples()}
    expected = {s: info["sex"] for s, info in truth["samples"].items()}
    assert set(inferred) == set(expected)
    for sample, sex_name in expected.items():
        assert inferred[sample].lower() == sex_name.lower(), (sample, inferred[sample])


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_scatter_and_diagram_are_pictures(demo_run, truth):
    for sample in truth["experimental"]:
        for kind in ("scatter", "diagram"):
            width, height = png_size(demo_run.results / "plots" / f"{sample}-{kind}.png")
            assert width >= 1000 and height >= 500, (kind, width, height)
        assert (demo_run.results / "plots" / f"{sample}-diagram.pdf").read_bytes()[:5] == b"%PDF-"


def test_every_output_is_there_and_delivered(demo_run, truth):
    samples = truth["experimental"] + truth["controls"]
    expected = {"reference.cnn", "sex.tsv", "job.json", "regions/access.bed",
                "regions/targets.target.bed", "regions/targets.antitarget.bed", "qc/metrics.tsv", "report.html"}
    for s in samples:
        expected |= {f"coverage/{s}.targetcoverage.cnn", f"coverage/{s}.antitargetcoverage.cnn"}
    for s in truth["experimental"]:
        expected |= {f"samples/{s}.{ext}" for ext in ("cnr", "cns", "call.cns", "genemetrics.tsv")}
    produced = {str(p.relative_to(demo_run.results)) for p in demo_run.results.rglob("*") if p.is_file()}
    assert expected <= produced
    delivered = {str(p.relative_to(demo_run.delivered)) for p in demo_run.delivered.rglob("*") if p.is_file()}
    assert delivered == produced
    assert (demo_run.delivered / "reference.cnn").read_bytes() == (demo_run.results / "reference.cnn").read_bytes()


def test_gene_names_are_clean_symbols(demo_run, demo_data):
    symbols = {line.split("\t")[0] for line in (demo_data / "refFlat.txt").read_text().splitlines()}
    for sample in json.loads((demo_data / "truth.json").read_text())["experimental"]:
        metrics = read_table(demo_run.results / "samples" / f"{sample}.genemetrics.tsv")
        assert len(metrics) > 0
        assert set(metrics.gene) <= symbols
        cnr = read_table(demo_run.results / "samples" / f"{sample}.cnr")
        targets = cnr[cnr.gene != "Antitarget"]
        assert set(targets.gene) <= symbols | {"-"}
        assert targets.gene.isin(symbols).mean() > 0.9


def test_genemetrics_reports_the_genes_of_planted_events(demo_run, truth):
    for sample, event in planted(truth):
        metrics = read_table(demo_run.results / "samples" / f"{sample}.genemetrics.tsv")
        reported = set(metrics.gene)
        genes = set(event["genes"])
        assert genes, event
        found = genes & reported
        assert len(found) >= 0.8 * len(genes), (sample, event["kind"], sorted(genes - reported))
        direction = metrics[metrics.gene.isin(genes)].log2
        assert (direction < 0).all() if event["cn"] < 2 else (direction > 0).all()


def test_the_job_records_what_ran(demo_run, demo_data):
    summary = demo_run.summary()
    body = json.loads((demo_data / "job.json").read_text())
    assert summary["instance_id"] == demo_run.instance_id
    assert summary["steps"]["target"] == body["target_conf"].split()
    assert summary["steps"]["coverage"] == body["coverage_conf"].split()
    assert summary["versions"]["cnvkit"].startswith("0.9")
    assert "progress: " in demo_run.stderr and "steps" in demo_run.stderr


# --- Equivalence with CNVkit run by hand ------------------------------------------------------


@pytest.fixture(scope="module")
def by_hand(demo_data, tmp_path_factory):
    """The same CNVkit commands as the demo job, typed as a user would, in a scratch folder."""
    import shlex
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    body = json.loads((demo_data / "job.json").read_text())
    out = tmp_path_factory.mktemp("by_hand")
    cnvkit = str(Path(sys.executable).with_name("cnvkit.py"))

    def run(*argv):
        proc = subprocess.run([cnvkit, *map(str, argv)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]

    conf = {k: shlex.split(body.get(k, "")) for k in body if k.endswith("_conf")}
    bams = {Path(p).stem: p for p in body["experimental_inputs"] + body["control_inputs"]}
    controls = [Path(p).stem for p in body["control_inputs"]]
    tests = [Path(p).stem for p in body["experimental_inputs"]]
    run("access", body["ref"], "-o", out / "access.bed")
    run("target", body["bed"], *conf["target_conf"], "--annotate", body["annotation_file"], "-o", out / "t.target.bed")
    run("antitarget", out / "t.target.bed", "-g", out / "access.bed", *conf["antitarget_conf"], "-o", out / "t.antitarget.bed")
    jobs = [(s, kind) for s in bams for kind in ("target", "antitarget")]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda sk: run("coverage", bams[sk[0]], out / f"t.{sk[1]}.bed", *conf["coverage_conf"],
                                     "-o", out / f"{sk[0]}.{sk[1]}coverage.cnn"), jobs))
    run("reference", *[out / f"{s}.{k}coverage.cnn" for s in controls for k in ("target", "antitarget")],
        "-f", body["ref"], *conf["reference_conf"], "-o", out / "reference.cnn")
    for s in tests:
        run("fix", out / f"{s}.targetcoverage.cnn", out / f"{s}.antitargetcoverage.cnn", "-r", out / "reference.cnn",
            *conf["fix_conf"], "-o", out / f"{s}.cnr")
        run("segment", out / f"{s}.cnr", *conf["segment_conf"], "-o", out / f"{s}.cns")
        run("call", out / f"{s}.cns", *conf["call_conf"], "-o", out / f"{s}.call.cns")
    return out


def test_bins_and_coverage_equal_cnvkit_by_hand(demo_run, by_hand, truth):
    assert (demo_run.results / "regions/targets.target.bed").read_text() == (by_hand / "t.target.bed").read_text()
    assert (demo_run.results / "regions/targets.antitarget.bed").read_text() == (by_hand / "t.antitarget.bed").read_text()
    for sample in truth["experimental"] + truth["controls"]:
        for kind in ("target", "antitarget"):
            name = f"{sample}.{kind}coverage.cnn"
            assert_same_table(demo_run.results / "coverage" / name, by_hand / name)


def test_reference_equals_cnvkit_by_hand(demo_run, by_hand):
    assert_same_table(demo_run.results / "reference.cnn", by_hand / "reference.cnn")


def test_copy_ratios_segments_and_calls_equal_cnvkit_by_hand(demo_run, by_hand, truth):
    for sample in truth["experimental"]:
        assert_same_table(demo_run.results / "samples" / f"{sample}.cnr", by_hand / f"{sample}.cnr", float_tol=1e-5)
        assert_same_table(demo_run.results / "samples" / f"{sample}.cns", by_hand / f"{sample}.cns")
        assert_same_table(demo_run.results / "samples" / f"{sample}.call.cns", by_hand / f"{sample}.call.cns")


# --- The CBS pitfall warning (localgene.cnvkit.segment_check) ----------------------------------------


def test_cbs_over_the_planted_homozygous_deletion_is_warned_about_without_changing_cnvkits_result(
        demo_run, truth, by_hand):
    # The demo segments with -m cbs and without --drop-low-coverage; T2's planted deep loss
    # (copy number 0) leaves bins with no reads at all, T1 has none.
    cnr = read_table(demo_run.results / "samples" / "T2.cnr")
    dead = cnr[cnr.depth == 0]
    [deep] = [e for e in truth["samples"]["T2"]["events"] if e["kind"] == "deep_loss"]
    assert len(dead) > 0 and ((dead.chromosome == deep["chrom"]) & (dead.end > deep["start"])
                              & (dead.start < deep["end"])).all(), "the bins with no reads are the planted deletion"
    warnings = demo_run.summary()["warnings"]
    mine = [w for w in warnings if "CNVkit issue #683" in w]
    assert mine == [f"segment_conf: T2.cnr holds {len(dead)} bins with no coverage (log2 about -20); CBS (-m cbs) "
                    "without --drop-low-coverage can return one segment for a whole chromosome there and hide "
                    "real losses around them (CNVkit issue #683). Consider --drop-low-coverage, which in turn "
                    "hides homozygous deletions"]
    assert (demo_run.job_dir / "logs" / "segment" / "T2.log").read_text().endswith(f"localgene: warning: {mine[0]}\n")
    assert "localgene: warning" not in (demo_run.job_dir / "logs" / "segment" / "T1.log").read_text()
    # CNVkit's result is CNVkit's: the segments equal the ones typed by hand
    assert_same_table(demo_run.results / "samples" / "T2.cns", by_hand / "T2.cns")
