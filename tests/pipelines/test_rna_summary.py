"""localgene.pipelines.rna.summary: the tool versions of results/job.json, from what the job's steps
reported, else from each tool's version command."""

from __future__ import annotations

import json

from localgene.pipelines.rna import summary


def test_versions_the_steps_reported_are_used_and_the_rest_asked_for(tmp_path, monkeypatch):
    de_log = tmp_path / "logs" / "rna" / "de.log"
    de_log.parent.mkdir(parents=True)
    de_log.write_text("$ Rscript --vanilla deseq2.R ...\nDESeq2 1.38.3 on R version 4.2.2 Patched (2022-11-10 r83330) \n")
    (tmp_path / "count.log").write_text("DESeq2 9.9 on nothing\n")  # another step's log: not read
    report = tmp_path / "C1.json"
    report.write_text(json.dumps({"cutadapt_version": "4.2", "read_counts": {}}))
    reported = summary.reported_versions([tmp_path / "count.log", de_log], [tmp_path / "missing.json", report])
    assert reported == {"DESeq2": "DESeq2 1.38.3", "cutadapt": "4.2"}

    asked = []
    monkeypatch.setattr(summary.tools, "version", lambda argv: asked.append(argv[0]) or f"{argv[0]} x")
    versions = summary.tool_versions(True, reported)
    assert versions["DESeq2"] == "DESeq2 1.38.3" and versions["cutadapt"] == "4.2"
    assert asked == ["hisat2", "samtools", "featureCounts", "Rscript"]
    assert summary.reported_versions([tmp_path / "count.log"]) == {}
    asked.clear()
    assert set(summary.tool_versions(False)) == {"hisat2", "samtools", "featureCounts", "R", "DESeq2"}
    assert asked == ["hisat2", "samtools", "featureCounts", "Rscript", "Rscript"]
