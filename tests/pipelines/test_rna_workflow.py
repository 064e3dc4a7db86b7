"""The RNA_DIFF_EXPR workflow run for real (plain Snakemake) on the seeded RNA demo data.

Asserts biology against the planted truth: the planted differentially expressed genes are
found with the right sign, the adapter is trimmed, the declared library type is checked
against the reads, the rRNA fraction is measured; and that a bad body is refused before any
step runs.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
from browser_helpers import open_report, table_rows
from rna_helpers import read_csv, read_tsv, significant, snakemake

from localgene.demo import rna
from localgene.pipelines.rna.plan import DE_COLUMNS

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo(rna_demo_data):
    body = json.loads((rna_demo_data / rna.JOB).read_text())
    truth = json.loads((rna_demo_data / rna.TRUTH).read_text())
    return body, truth


@pytest.fixture(scope="module")
def run(demo, tmp_path_factory):
    """The demo body as written (dUTP, adapter, QC), results delivered to a folder."""
    body, _ = demo
    root = tmp_path_factory.mktemp("rna-run")
    body = dict(body, output=str(root / "delivered"), instance_id="rna-demo")
    proc = snakemake(body, root / "job")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "job", root / "delivered" / "rna-demo"


@pytest.fixture(scope="module")
def wrong_type_run(demo, tmp_path_factory):
    """Two samples per group, no adapter trimming, dUTP reads declared fr-unstranded, a CSV output."""
    body, _ = demo
    root = tmp_path_factory.mktemp("rna-wrong")
    body = copy.deepcopy(body)
    for group in body["inputs"]:
        group["group_inputs"] = group["group_inputs"][:2]
    for key in ("adapt", "bed"):
        body.pop(key)
    body.update(library_type="fr-unstranded", is_export_qc=False, output=str(root / "out" / "de.csv"),
                instance_id="wrong")  # fmt: skip
    proc = snakemake(body, root / "job")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "job", root / "out"


def test_planted_de_genes_are_found_with_the_right_sign(run, demo):
    _, truth = demo
    job, _ = run
    rows = read_csv(job / "results" / "de" / "treated_vs_control.csv")
    assert tuple(rows[0]) == DE_COLUMNS
    planted = {g["gene_id"]: g["log2fc"] for g in truth["genes"] if g["de"]}
    found = significant(rows)
    true_pos = set(found) & set(planted)
    recall = len(true_pos) / len(planted)
    false_discovery = len(set(found) - set(planted)) / max(1, len(found))
    assert recall >= 0.9, (recall, sorted(set(planted) - set(found)))
    assert false_discovery <= 0.1, sorted(set(found) - set(planted))
    assert all((found[g] > 0) == (planted[g] > 0) for g in true_pos)
    # the fold changes are estimated, not just signed: within 0.6 log2 units of the planted ones
    assert all(abs(found[g] - planted[g]) < 0.6 for g in true_pos)
    names = {g["gene_id"]: g["gene_name"] for g in truth["genes"]}
    assert all(r["gene_name"] == names[r["gene_id"]] for r in rows)


def test_reference_level_contrasts_and_commands_are_recorded(run):
    job, _ = run
    summary = json.loads((job / "results" / "job.json").read_text())
    assert summary["reference_level"] == "control"
    assert summary["contrasts"] == [{
        "name": "treated_vs_control", "group": "treated", "reference": "control",
        "csv": "de/treated_vs_control.csv", "log2FoldChange": "treated versus control",
    }]  # fmt: skip
    assert summary["warnings"] == []
    assert summary["hisat2_index"]["mode"] == "splice-sites"
    assert set(summary["tool_versions"]) == {"cutadapt", "hisat2", "samtools", "featureCounts", "R", "DESeq2"}
    # the versions that ran, as the de step's log and cutadapt's reports give them
    assert summary["tool_versions"]["DESeq2"].startswith("DESeq2 1.")
    assert f"{summary['tool_versions']['DESeq2']} on R version" in (job / "logs/rna/de.log").read_text()
    assert summary["tool_versions"]["cutadapt"] == json.loads(
        (job / "results/qc/cutadapt/C1.json").read_text())["cutadapt_version"]
    # every step that ran tools ends its log with their peak memory (the steps run in threads)
    for log in ("align/C1.log", "trim/C1.log", "count.log", "de.log"):
        last = (job / "logs/rna" / log).read_text().splitlines()[-1]
        assert re.fullmatch(r"localgene: peak RSS of the step's tools: [1-9]\d* MB", last), (log, last)
    align = summary["steps"]["logs/rna/align/C1.log"][0]
    assert align.startswith("hisat2 ") and "--rna-strandness RF" in align and "| samtools sort" in align
    count = summary["steps"]["logs/rna/count.log"][0]
    assert "-s 2" in count and "--countReadPairs" in count
    for log, _commands in summary["steps"].items():
        first = (job / log).read_text().splitlines()[0]
        assert first.startswith("$ "), log


def test_count_matrix_and_normalized_counts(run, demo):
    _, truth = demo
    job, _ = run
    matrix = read_tsv(job / "results" / "counts" / "counts.tsv")
    samples = list(truth["samples"])
    assert list(matrix[0]) == ["gene_id", "gene_name", *samples]
    assert len(matrix) == len(truth["genes"])
    assigned = {}
    for line in open(job / "results" / "counts" / "featurecounts.txt.summary").read().splitlines()[1:]:
        if line.startswith("Assigned\t"):
            assigned = dict(zip(samples, map(int, line.split("\t")[1:])))
    for s in samples:
        total = sum(int(r[s]) for r in matrix)
        assert total == assigned[s]
        # every simulated fragment of a gene is counted for it (up to the unaligned ~0.1 %)
        simulated = sum(truth["samples"][s]["fragments_per_gene"].values())
        assert 0.98 * simulated <= total <= simulated
    normalized = read_tsv(job / "results" / "de" / "normalized_counts.tsv")
    assert list(normalized[0]) == ["gene_id", "gene_name", *samples]
    factors = {r["sample"]: float(r["size_factor"]) for r in read_tsv(job / "results" / "de" / "size_factors.tsv")}
    # DESeq2's size factors follow the planted library sizes
    planted = {s: truth["samples"][s]["size_factor"] for s in samples}
    ratio = [factors[s] / planted[s] for s in samples]
    assert max(ratio) / min(ratio) < 1.15


def test_adapter_is_trimmed(run, wrong_type_run, demo):
    _, truth = demo
    job, _ = run
    for sample, info in truth["samples"].items():
        report = json.loads((job / "results" / "qc" / "cutadapt" / f"{sample}.json").read_text())
        counts = report["read_counts"]
        assert counts["input"] == info["pairs"]
        # every read-through pair has the adapter removed (plus some chance 3' matches)
        assert counts["read1_with_adapter"] >= 0.95 * info["readthrough_pairs"]
        assert counts["read2_with_adapter"] >= 0.95 * info["readthrough_pairs"]
    trimmed = {r["sample"]: float(r["aligned_pct"]) for r in read_tsv(job / "results" / "qc" / "qc.tsv")}
    untrimmed_job, _ = wrong_type_run
    for sample in ("C1", "T1"):
        text = (untrimmed_job / "results" / "qc" / "hisat2" / f"{sample}.txt").read_text()
        untrimmed = float(text.split("Overall alignment rate:")[1].split("%")[0])
        assert trimmed[sample] > 99.0 and untrimmed < trimmed[sample] - 3.0, (trimmed[sample], untrimmed)


def test_qc_table_and_picture(run, demo):
    _, truth = demo
    job, delivered = run
    rows = read_tsv(job / "results" / "qc" / "qc.tsv")
    assert [r["sample"] for r in rows] == list(truth["samples"])
    rrna_genes = {g["gene_id"] for g in truth["genes"] if g["biotype"] == "rRNA"}
    for r in rows:
        info = truth["samples"][r["sample"]]
        planted = sum(n for g, n in info["fragments_per_gene"].items() if g in rrna_genes) / info["pairs"]
        assert abs(float(r["rrna_fraction"]) - planted) < 0.005, (r, planted)
        assert r["inferred_library_type"] == "fr-firststrand" and float(r["sense_fraction"]) < 0.05
        assert int(r["pairs_in"]) == info["pairs"] and int(r["pairs_with_adapter"]) > 0
        assert float(r["assigned_pct"]) > 95
    png = (delivered / "qc" / "qc.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_results_delivered_to_the_output_folder(run):
    job, delivered = run
    for rel in ("de/treated_vs_control.csv", "counts/counts.tsv", "de/normalized_counts.tsv", "job.json",
                "qc/qc.tsv", "qc/strandedness.tsv", "plots/treated_vs_control-ma.png",
                "plots/treated_vs_control-volcano.png"):  # fmt: skip
        assert (delivered / rel).read_bytes() == (job / "results" / rel).read_bytes(), rel
    assert not (delivered / "bam").exists()


@pytest.fixture(scope="module")
def report(run):
    """The delivered report of the demo run, opened in Chromium (network refused)."""
    job, delivered = run
    assert (delivered / "report.html").read_bytes() == (job / "results" / "report.html").read_bytes()
    return open_report(delivered / "report.html", "report-rna",
                       tables=(".rna-qc", ".top-genes[data-contrast='treated_vs_control']"))


def test_report_top_genes_are_the_planted_ones_with_their_sign(report, demo):
    _, truth = demo
    planted = {g["gene_id"]: g["log2fc"] for g in truth["genes"] if g["de"]}
    rows = table_rows(report, ".top-genes[data-contrast='treated_vs_control']")
    assert len(rows) == min(50, len(truth["genes"]))
    highlighted = {r["gene id"]: r for r in rows if r["cls"] in ("up", "down")}
    # the planted genes DESeq2 finds are highlighted, in the direction they were planted
    assert len(set(highlighted) & set(planted)) >= 0.9 * len(planted)
    assert len(set(highlighted) - set(planted)) <= 0.1 * len(highlighted)
    for gene, r in highlighted.items():
        assert r["cls"] == r["direction"] == ("up" if float(r["log2FC"]) > 0 else "down")
        assert float(r["padj"]) < 0.05
        if gene in planted:
            assert (planted[gene] > 0) == (r["cls"] == "up"), r
    padj = [float(r["padj"]) for r in rows]
    assert padj == sorted(padj) and all(float(r["baseMean"].replace(",", "")) > 0 for r in rows)


def test_report_qc_plots_and_run_record(report, demo, run):
    _, truth = demo
    job, _ = run
    assert all(u.startswith(("file:", "data:")) for u in report["requests"]), report["requests"]
    qc = {r["sample"]: r for r in table_rows(report, ".rna-qc")}
    assert list(qc) == list(truth["samples"])
    for sample, info in truth["samples"].items():
        r = qc[sample]
        assert int(r["read pairs in"].replace(",", "")) == info["pairs"]
        assert int(r["pairs with adapter"].replace(",", "")) >= 0.95 * info["readthrough_pairs"]
        assert float(r["aligned %"]) > 99 and float(r["assigned to genes %"]) > 95
        assert r["looks like"] == r["declared"] == "fr-firststrand" and r["strandedness check"] == "as declared"
        assert r["cls"] == ""
    alts = {i["alt"]: i for i in report["images"]}
    for alt in ("treated_vs_control MA plot", "treated_vs_control volcano plot", "RNA QC per sample"):
        assert alts[alt]["src"].startswith("data:image/png;base64") and alts[alt]["w"] > 300, alts
    text = report["text"]
    assert "hisat2 -p" in text and "featureCounts" in text and "DESeq2" in text  # commands and versions
    assert "no warnings" in text
    # the timeline, from the steps' benchmark files: one bar per step that ran
    # (all but the report's own and the delivery's, which end after it is written)
    folder = job / "logs" / "rna" / "benchmark"
    ran = [b for b in folder.rglob("*.tsv") if b not in (folder / "report.tsv", folder / "deliver.tsv")]
    assert f"{len(ran)} steps; each bar" in text


def test_wrong_library_type_is_warned_about(wrong_type_run):
    job, out = wrong_type_run
    summary = json.loads((job / "results" / "job.json").read_text())
    warned = [w for w in summary["warnings"] if "library_type is fr-unstranded but the reads look fr-firststrand" in w]
    assert {w.split(":")[0] for w in warned} == {"sample C1", "sample C2", "sample T1", "sample T2"}
    assert len(summary["warnings"]) == 4
    assert summary["adapter_trimming"] is False and summary["featurecounts_strand"] == 0
    assert "-s 0" in summary["steps"]["logs/rna/count.log"][0]
    assert "--rna-strandness" not in summary["steps"]["logs/rna/align/C1.log"][0]
    # a CSV output: the table at exactly that path, every result beside it
    table = read_csv(out / "de.csv")
    assert tuple(table[0]) == DE_COLUMNS
    assert (out / "wrong" / "de" / "treated_vs_control.csv").read_bytes() == (out / "de.csv").read_bytes()
    # the report shows the failed check per sample, and the warnings (no QC: no rRNA fraction)
    opened = open_report(out / "wrong" / "report.html", "report-rna-wrong-library-type", tables=(".rna-qc",))
    qc = {r["sample"]: r for r in table_rows(opened, ".rna-qc")}
    assert set(qc) == {"C1", "C2", "T1", "T2"}
    assert all(r["strandedness check"] == "MISMATCH" and r["cls"] == "warn" and r["rRNA fraction"] == ""
               and r["pairs with adapter"] == "" for r in qc.values())
    assert all(w in opened["text"] for w in summary["warnings"])


@pytest.mark.parametrize(
    "change,words",
    [
        (lambda b: b["inputs"][1].update(group_inputs=b["inputs"][1]["group_inputs"][:1]), "group_inputs"),
        (lambda b: b.update(library_type="unstranded"), "library_type"),
        (lambda b: b["inputs"][0]["group_inputs"][0].update(files=["a_R1.fastq.gz"]), "files"),
        (lambda b: b.update(is_export_qc=True, bed=None), "bed"),
        (lambda b: b.update(adapt="AGAT CG"), "adapt"),
        (lambda b: b.update(extra="x"), "extra"),
    ],
)
def test_bad_body_is_refused_before_any_step(demo, tmp_path, change, words):
    body = copy.deepcopy(demo[0])
    change(body)
    proc = snakemake(body, tmp_path / "job", timeout=600)
    assert proc.returncode != 0
    assert words in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "job" / "logs").exists() and not (tmp_path / "job" / "results").exists()


def test_missing_fastq_is_refused_naming_the_field(demo, tmp_path):
    body = copy.deepcopy(demo[0])
    body["inputs"][1]["group_inputs"][2]["files"][1] = str(tmp_path / "missing_R2.fastq.gz")
    proc = snakemake(body, tmp_path / "job", timeout=600)
    assert proc.returncode != 0
    assert "inputs[1].group_inputs[2].files[1]" in proc.stderr and "does not exist" in proc.stderr
    assert not (tmp_path / "job" / "logs").exists()


def test_opposite_library_type_fails_with_a_clear_message(demo, tmp_path):
    """dUTP reads declared fr-secondstrand: nothing is counted, the de step says why."""
    body = copy.deepcopy(demo[0])
    for group in body["inputs"]:
        group["group_inputs"] = group["group_inputs"][:2]
    body.pop("adapt")
    body.update(library_type="fr-secondstrand", is_export_qc=False, bed=None, output=str(tmp_path / "out"))
    proc = snakemake(body, tmp_path / "job")
    assert proc.returncode != 0
    log = (tmp_path / "job" / "logs" / "rna" / "de.log").read_text()
    assert log.startswith("error: fewer than 10 read pairs were counted over all genes in sample(s) C1, C2, T1, T2")
    assert "their reads look fr-firststrand but library_type is fr-secondstrand" in log
    assert not (tmp_path / "out").exists()  # nothing delivered
