"""The pipeline report pieces that need no workflow run: bcftools' numbers read back, FILTER
values counted, gene rows highlighted, the run record of an RNA job. (The reports of real jobs
are checked in tests/pipelines/test_rna_workflow.py and tests/pipelines/test_dna_*_workflow.py.)"""

from __future__ import annotations

import os
import subprocess

import pytest

from localgene.pipelines import dna_qc
from localgene.report import rna

VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=10000>
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=weak_evidence,Description="Tumor LOD below 3.5">
##FILTER=<ID=normal_evidence,Description="Normal LOD below 3.5">
##INFO=<ID=SOMATIC,Number=0,Type=Flag,Description="Somatic">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tT\tN
chr1\t100\t.\tA\tG\t50\tPASS\tSOMATIC\tGT\t0/1\t0/0
chr1\t200\t.\tC\tT\t50\tPASS\tSOMATIC\tGT\t0/1\t0/0
chr1\t300\t.\tG\tT\t50\tweak_evidence;normal_evidence\t.\tGT\t0/1\t0/1
chr1\t400\t.\tACGT\tA\t50\tnormal_evidence\t.\tGT\t0/1\t0/1
chr1\t500\t.\tAC\tGT\t50\tPASS\tSOMATIC\tGT\t0/1\t0/0
"""


@pytest.fixture
def vcf(tmp_path):
    path = tmp_path / "calls.vcf"
    path.write_text(VCF)
    return str(path)


def test_bcftools_stats_and_filter_values_are_read_back(vcf, tmp_path):
    log = tmp_path / "qc.log"
    out = tmp_path / "all.txt"
    out.write_text(subprocess.run(["bcftools", "stats", vcf], capture_output=True, text=True, check=True).stdout)
    st = dna_qc.read_stats(out)
    assert (st["records"], st["snv"], st["indel"], st["mnp"]) == (5, 3, 1, 1)
    assert (st["ts"], st["tv"]) == (2, 1) and st["ts_tv"] == 2.0  # A>G, C>T transitions; G>T
    counts, described = dna_qc.filter_counts(vcf, log)
    assert counts == {"PASS": 3, "normal_evidence": 2, "weak_evidence": 1}  # both reasons of record 3
    assert described["weak_evidence"] == "Tumor LOD below 3.5"
    assert log.read_text().splitlines()[0].startswith("bcftools query -f")


def test_stat_sets_select_what_their_labels_say(vcf):
    sets = {s.key: s for s in dna_qc.stat_sets([("tumor", "T"), ("normal", "N")], somatic=True)}
    assert list(sets) == ["all", "pass", "somatic", "somatic.pass", "tumor", "tumor.pass", "normal", "normal.pass"]

    def records(view):
        text = subprocess.run(["bcftools", "view", "-H", *view, vcf], capture_output=True, text=True, check=True).stdout
        return len(text.splitlines())

    assert [records(sets[k].view) for k in sets] == [5, 3, 3, 3, 5, 3, 2, 0]
    assert dna_qc.stat_sets([("sample", "S")], somatic=False)[-1].label == "S: its PASS calls"


@pytest.mark.parametrize("output,report", [
    ("/x/calls.vcf.gz", "/x/calls.report.html"), ("/x/calls.VCF", "/x/calls.report.html"),
    ("s3a://b/k/somatic.vcf.gz", "s3a://b/k/somatic.report.html"), ("/x/calls", "/x/calls.report.html"),
])
def test_the_dna_report_goes_beside_the_vcf(output, report):
    assert dna_qc.report_destination(output) == report


def test_gene_rows_are_highlighted_by_padj_and_sign():
    rows = [
        {"gene_id": "a", "padj": 0.001, "log2FoldChange": 2.0},
        {"gene_id": "b", "padj": 0.01, "log2FoldChange": -1.5},
        {"gene_id": "c", "padj": 0.2, "log2FoldChange": 3.0},
        {"gene_id": "d", "padj": None, "log2FoldChange": 5.0},
        {"gene_id": "e", "padj": 0.001, "log2FoldChange": -4.0},
    ]
    assert [rna.direction(r) for r in rows] == ["up", "down", "", "", "down"]
    assert [r["gene_id"] for r in rna.top_genes(rows, 3)] == ["e", "a", "b"]  # padj, then |log2FC|


def test_rna_run_record_lists_every_command_and_the_benchmark_timeline(tmp_path):
    bench = tmp_path / "logs" / "rna" / "benchmark"
    (bench / "align").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "align" / "C1.tsv").write_text(header + "6.40\t0:00:06\t155.68\t336\t78\t94\t0\t4\t27\t2.09\n")
    (bench / "count.tsv").write_text(header + "2.00\t0:00:02\t50.5\t100\t40\t45\t0\t1\t90\tNA\n")
    os.utime(bench / "align" / "C1.tsv", (1000.0, 1000.0))
    os.utime(bench / "count.tsv", (1010.0, 1010.0))
    summary = {"steps": {"logs/rna/align/C1.log": ["hisat2 -p 2 ... | samtools sort ...", "samtools index x.bam"],
                         "logs/rna/count.log": ["featureCounts -s 2 ..."]},
               "warnings": ["sample C1: library_type is ..."], "tool_versions": {"hisat2": "2.2.1"}}
    record = rna.run_record(tmp_path, summary, {"benchmarks": "logs/rna/benchmark"})
    assert list(record.options) == [("align/C1", "hisat2 -p 2 ... | samtools sort ..."),
                                    ("", "samtools index x.bam"), ("count", "featureCounts -s 2 ...")]
    assert record.versions == {"hisat2": "2.2.1"} and record.warnings == ["sample C1: library_type is ..."]
    first, second = record.timeline
    assert (first["step"], first["wildcards"], first["start"], first["end"]) == ("align", {"": "C1"}, 993.6, 1000.0)
    # the steps run in threads of Snakemake: its CPU and memory in the files are not the step's
    assert (first["cpu_s"], first["max_rss_mb"]) == (None, None)
    assert (second["step"], second["start"], second["cpu_s"]) == ("count", 1008.0, None)
