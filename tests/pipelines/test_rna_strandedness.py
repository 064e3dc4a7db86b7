"""localgene.pipelines.rna.strandedness: the declared library type against the reads."""

from localgene.pipelines.rna import strandedness


def test_inferred_type_from_sense_fraction():
    assert strandedness.infer(strandedness.sense_fraction(2, 9000)) == "fr-firststrand"
    assert strandedness.infer(strandedness.sense_fraction(9000, 40)) == "fr-secondstrand"
    assert strandedness.infer(strandedness.sense_fraction(4600, 4400)) == "fr-unstranded"
    assert strandedness.infer(strandedness.sense_fraction(7000, 3000)) == "undetermined"
    assert strandedness.infer(strandedness.sense_fraction(0, 0)) == "undetermined"


def test_warns_only_where_reads_disagree():
    rows = strandedness.check("fr-firststrand", {"A": 3, "B": 5000}, {"A": 6000, "B": 5100})
    assert [r["inferred"] for r in rows] == ["fr-firststrand", "fr-unstranded"]
    warnings = strandedness.warnings(rows)
    assert len(warnings) == 1
    assert warnings[0].startswith("sample B: library_type is fr-firststrand but the reads look fr-unstranded")
    assert strandedness.warnings(strandedness.check("fr-unstranded", {"A": 50}, {"A": 52})) == []
