"""localgene.pipelines.rna.qc and localgene.pipelines.rna.counts: the QC table from the tools' own reports."""

from localgene.pipelines.rna import counts, qc

HISAT2 = """HISAT2 summary stats:
\tTotal pairs: 1000
\t\tAligned concordantly or discordantly 0 time: 80 (8.00%)
\tOverall alignment rate: 92.60%
"""


def test_bed_to_saf_is_one_based(tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\nchr1\t99\t200\tRNA45S\t0\t-\nchr2\t0\t10\n")
    assert qc.bed_to_saf(bed, tmp_path / "r.saf") == 2
    lines = (tmp_path / "r.saf").read_text().splitlines()
    assert lines == ["GeneID\tChr\tStart\tEnd\tStrand", "RNA45S_0\tchr1\t100\t200\t-", "chr2:0-10_1\tchr2\t1\t10\t+"]


def test_qc_rows_from_reports(tmp_path):
    (tmp_path / "s.txt").write_text(HISAT2)
    hisat2 = {"A": qc.read_hisat2_summary(tmp_path / "s.txt")}
    genes = {"A": {"Assigned": 850, "Unassigned_Unmapped": 80, "Unassigned_NoFeatures": 70}}
    rrna = {"A": {"Assigned": 46, "Unassigned_Unmapped": 80, "Unassigned_NoFeatures": 874}}
    strand = [{"sample": "A", "sense_fraction": 0.01, "inferred": "fr-firststrand"}]
    trim = {"A": {"pairs_in": 1000, "pairs_with_adapter": 80, "pairs_after_trimming": 998}}
    (row,) = qc.qc_rows({"A": "ctl"}, hisat2, genes, rrna, strand, trim)
    assert row["aligned_pct"] == 92.6 and row["assigned_pct"] == 85.0
    assert row["rrna_fraction"] == round(46 / 920, 4)  # of the aligned pairs
    assert row["pairs_with_adapter"] == 80 and row["inferred_library_type"] == "fr-firststrand"
    (untrimmed,) = qc.qc_rows({"A": "ctl"}, hisat2, genes, rrna, strand, None)
    assert untrimmed["pairs_in"] == 1000 and untrimmed["pairs_with_adapter"] == ""
    qc.write_tsv(tmp_path / "qc.tsv", [row])
    assert (tmp_path / "qc.tsv").read_text().splitlines()[0].split("\t") == list(qc.COLUMNS)


def test_count_matrix_columns_follow_the_samples(tmp_path):
    table = tmp_path / "fc.txt"
    table.write_text(
        '# Program:featureCounts v2.0.3; Command:"featureCounts"\n'
        "Geneid\tChr\tStart\tEnd\tStrand\tLength\tgene_name\tw/a.bam\tw/b.bam\n"
        "G1\tchr1\t1\t10\t+\t10\tALPHA\t5\t7\nG2\tchr1\t20\t30\t-\t11\t\t0\t3\n"
    )
    ids, names, rows = counts.read_matrix(table, ["a", "b"])
    assert ids == ["G1", "G2"] and names == ["ALPHA", "G2"] and rows == [[5, 7], [0, 3]]
    counts.write_matrix(tmp_path / "m.tsv", ["a", "b"], ids, names, rows)
    assert (tmp_path / "m.tsv").read_text() == "gene_id\tgene_name\ta\tb\nG1\tALPHA\t5\t7\nG2\tG2\t0\t3\n"


def test_samples_with_nothing_counted(tmp_path):
    counts.write_matrix(tmp_path / "m.tsv", ["a", "b", "c"], ["G1", "G2"], ["G1", "G2"], [[0, 40, 0], [1, 1, 20]])
    assert counts.empty_samples(tmp_path / "m.tsv") == ["a"]
