"""localgene.pipelines.rna.steps: the RNA rules' steps as Snakemake's `run:` blocks call them, in threads of
one process (the workflow itself runs in tests/pipelines/test_rna_workflow.py)."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from localgene.pipelines.rna import steps


def test_a_refused_step_writes_one_error_line_and_fails(tmp_path):
    matrix = tmp_path / "counts.tsv"
    matrix.write_text("gene_id\tgene_name\tC1\tT1\ng1\tA\t500\t3\ng2\tB\t700\t2\n")
    check = tmp_path / "check.json"
    check.write_text(json.dumps({"rows": [{"sample": "T1", "inferred": "fr-firststrand",
                                           "declared": "fr-secondstrand"}], "warnings": []}))
    log = tmp_path / "de.log"
    with pytest.raises(steps.StepFailed, match="step de failed: fewer than 10 read pairs"):
        steps.run("de", NS(matrix=str(matrix), strandedness=str(check)), NS(coldata=str(tmp_path / "c.tsv")),
                  NS(), 1, NS(), str(log), {})
    text = log.read_text()
    assert text.startswith("error: fewer than 10 read pairs were counted over all genes in sample(s) T1")
    assert "look fr-firststrand but library_type is fr-secondstrand" in text
    assert steps.PEAK_RSS_LINE not in text and not (tmp_path / "c.tsv").exists()


def _de_csv(path: Path, n: int = 300) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["gene_id", "gene_name", "baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"])
        for i in range(n):
            lfc = (i % 7 - 3) * 0.8
            writer.writerow([f"g{i}", f"G{i}", 10 + i, lfc, 0.3, lfc / 0.3, 0.5 / (1 + i), "NA" if i % 50 == 0
                             else min(1.0, 0.9 / (1 + abs(lfc) * 20))])


def test_plot_steps_in_threads_at_once_each_draw_their_own_pictures(tmp_path):
    jobs, errors = [], []
    for k in range(4):
        table = tmp_path / f"c{k}.csv"
        _de_csv(table, n=100 + 50 * k)
        out = NS(ma=str(tmp_path / f"c{k}-ma.png"), volcano=str(tmp_path / f"c{k}-volcano.png"))
        jobs.append((NS(table=str(table)), out, NS(contrast=f"T{k}_vs_C")))

    def plot(inp, out, wildcards):
        try:
            steps.run("de_plots", inp, out, NS(), 1, wildcards, out.ma + ".log", {})
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=plot, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert errors == [] and not any(t.is_alive() for t in threads)
    pictures = [Path(p) for _, out, _ in jobs for p in (out.ma, out.volcano)]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pictures)
    assert len({p.read_bytes() for p in pictures}) == len(pictures)  # no step drew into another's figure
