"""DNA_GERMLINE on the seeded demo genome: planted SNVs and indels found with their genotypes."""

from __future__ import annotations

import json

import pysam
import pytest
from browser_helpers import open_report, table_rows
from dna_helpers import bcftools_count, check_report_counts, number, run_workflow
from dna_truth import genotype_concordance, load_truth, read_calls, score

pytestmark = pytest.mark.workflow


def _body(data, tmp, **fields):
    body = json.loads((data / "job.json").read_text())
    body.update(output=str(tmp / "out" / "calls.vcf.gz"), bam_output=str(tmp / "out" / "sample.bam"), **fields)
    return body


ENGINES = ["bcftools", "freebayes"]


@pytest.fixture(scope="module")
def germline_runs(dna_germline_data, tmp_path_factory):
    """engine -> (body, tmp folder) of one run per engine, run on first use."""
    runs = {}

    def get(engine):
        if engine not in runs:
            tmp = tmp_path_factory.mktemp(f"germline-{engine}")
            body = _body(dna_germline_data, tmp, engine=engine)
            proc = run_workflow(body, tmp / "job")
            assert proc.returncode == 0, proc.stderr[-3000:]
            runs[engine] = (body, tmp)
        return runs[engine]

    return get


@pytest.fixture(params=ENGINES)
def germline_run(request, germline_runs):
    return (request.param, *germline_runs(request.param))


def test_snv_and_indel_recall_precision_and_genotypes(germline_run, dna_germline_data):
    engine, body, _ = germline_run
    truth = load_truth(dna_germline_data)["variants"]
    calls = read_calls(body["output"], "demo_germline")
    for kind in ("snv", "indel"):
        s = score(truth, calls, kind)
        assert s.truth > 100
        assert s.recall >= 0.95 and s.precision >= 0.95, f"{engine} {kind}: {s}"
    for zygosity in ("0/1", "1/1"):  # both zygosities planted, and both called as such
        subset = [v for v in truth if v["genotype"] == zygosity]
        assert len(subset) > 100
        assert genotype_concordance(subset, calls) >= 0.95, f"{engine} {zygosity}"


def test_known_sites_fill_ids_and_the_record_says_no_bqsr(germline_run, dna_germline_data):
    _, body, tmp = germline_run
    truth = load_truth(dna_germline_data)["variants"]
    calls = read_calls(body["output"], "demo_germline")
    known = [v for v in truth if v["known_id"] and (v["chrom"], v["pos"], v["ref"], v["alt"]) in calls]
    unknown = [v for v in truth if not v["known_id"] and (v["chrom"], v["pos"], v["ref"], v["alt"]) in calls]
    assert len(known) > 400 and len(unknown) > 100
    assert all(calls[(v["chrom"], v["pos"], v["ref"], v["alt"])]["id"] == v["known_id"] for v in known)
    assert all(calls[(v["chrom"], v["pos"], v["ref"], v["alt"])]["id"] is None for v in unknown)
    summary = json.loads((tmp / "job" / "results" / "job.json").read_text())
    assert any("BQSR" in w for w in summary["warnings"])


def test_exported_bam_is_the_duplicate_marked_alignment_with_the_read_group(germline_run):
    _, body, _ = germline_run
    with pysam.AlignmentFile(body["bam_output"]) as bam:
        header = bam.header.to_dict()
        assert [rg["SM"] for rg in header["RG"]] == ["demo_germline"]
        assert header["HD"]["SO"] == "coordinate"
        flags = [r.is_duplicate for r in bam.fetch("chr1", 0, 200_000)]
    duplicates = sum(flags) / len(flags)
    assert 0.01 < duplicates < 0.08  # ~3 % planted PCR duplicates, flagged
    assert pysam.AlignmentFile(body["bam_output"]).check_index()


def test_report_counts_filters_reads_and_record(germline_run, dna_germline_data):
    """The report delivered beside the VCF: its counts are bcftools' counts of that VCF, the
    planted SNV/indel mix shows, the duplicate rate is the planted one, and it says no BQSR."""
    engine, body, tmp = germline_run
    vcf = body["output"]
    delivered = tmp / "out" / "calls.report.html"
    assert delivered.read_bytes() == (tmp / "job" / "results" / "report.html").read_bytes()
    opened = open_report(delivered, f"report-dna-germline-{engine}",
                         tables=(".variant-counts", ".filters", ".reads", ".step-options"))
    assert all(u.startswith(("file:", "data:")) for u in opened["requests"]), opened["requests"]
    check_report_counts(opened, vcf, {
        "all records": (), "PASS records": ("-f", "PASS,."),
        "demo_germline: its calls": ("-s", "demo_germline", "-c", "1")})
    truth = load_truth(dna_germline_data)["variants"]
    rows = {r["set"]: r for r in table_rows(opened, ".variant-counts")}
    planted = {k: sum(1 for v in truth if v["kind"] == k) for k in ("snv", "indel")}
    assert abs(number(rows["all records"]["SNV"]) - planted["snv"]) <= 0.1 * planted["snv"]
    assert abs(number(rows["all records"]["indel"]) - planted["indel"]) <= 0.1 * planted["indel"]
    filters = {r["FILTER"]: number(r["records"]) for r in table_rows(opened, ".filters")}
    assert filters == {"PASS": bcftools_count(vcf)}  # nothing filtered: QUAL < min_qual is dropped
    (reads,) = table_rows(opened, ".reads")
    assert reads["sample"] == "demo_germline" and 1 < number(reads["duplicate rate %"]) < 8
    assert number(reads["mapped %"]) > 95
    images = {i["alt"]: i for i in opened["images"]}
    plot = images["variant counts by type and FILTER values"]
    assert plot["src"].startswith("data:image/png;base64") and plot["w"] > 300
    text = opened["text"]
    assert any("BQSR" in line for line in text.splitlines() if line.strip())
    commands = {r["step"]: r["options"] for r in table_rows(opened, ".step-options")}  # each log's first line
    assert commands["dna_align.sample"].startswith("bwa mem -t ")
    assert commands["dna_markdup.sample"].startswith("samtools markdup ")
    assert commands["dna_qc"].startswith("# bcftools stats of results/calls.vcf.gz (4 record sets)")
    assert "no timeline recorded" in text


def test_bam_input_with_gvcf_and_the_gatk_engine(germline_runs, dna_germline_data, tmp_path):
    """The exported BAM fed back as BAM input: checked and used as is; a gVCF with <*> blocks."""
    first, _ = germline_runs("bcftools")
    body = _body(dna_germline_data, tmp_path, input=[first["bam_output"]], file_type="BAM", engine="gatk",
                 is_output_gvcf=True, is_export_bam=False, fastq_to_sam_conf=None)
    body.pop("bam_output")
    proc = run_workflow(body, tmp_path / "job")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "job" / "logs" / "dna_prepare_bam.sample.log").read_text()
    assert "duplicates marked=True" in log and "collate" not in log  # already marked: not redone
    summary = json.loads((tmp_path / "job" / "results" / "job.json").read_text())
    assert any("engine gatk" in w for w in summary["warnings"]) and any("<NON_REF>" in w for w in summary["warnings"])
    blocks = variants = 0
    with pysam.VariantFile(body["output"]) as vf:
        for rec in vf:
            real = [a for a in rec.alts or () if a not in ("<*>", ".")]
            if real:
                variants += 1
            elif rec.stop - rec.start > 1:  # pysam reads INFO/END into rec.stop
                blocks += 1  # a reference block (bcftools writes ALT ".", freebayes "<*>")
    assert blocks > 800 and variants > 700
    truth = load_truth(dna_germline_data)["variants"]
    calls = read_calls(body["output"], "demo_germline")
    assert score(truth, calls, "snv").recall >= 0.95
