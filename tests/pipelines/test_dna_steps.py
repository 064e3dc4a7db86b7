"""localgene.pipelines.dna_steps and somatic.orientation_counts on small hand-made files."""

from __future__ import annotations

import pysam
import pytest

from localgene.errors import InvalidRequest, WorkflowFailed
from localgene.pipelines import dna_steps, somatic

REF = "ACGT" * 50


def _bam(path, rgs, reads=(), sort_order="coordinate", pg=()):
    header = {"HD": {"VN": "1.6", "SO": sort_order}, "SQ": [{"SN": "chr1", "LN": len(REF)}],
              "RG": [{"ID": f"rg{i}", "SM": sm} for i, sm in enumerate(rgs)], "PG": list(pg)}  # fmt: skip
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for read in reads:
            out.write(read)
    return str(path)


def _read(name, start, seq, *, read1, reverse, header_bam):
    with pysam.AlignmentFile(header_bam) as h:
        r = pysam.AlignedSegment(h.header)
    r.query_name, r.reference_id, r.reference_start = name, 0, start
    r.query_sequence, r.cigarstring, r.mapping_quality = seq, f"{len(seq)}M", 60
    r.query_qualities = pysam.qualitystring_to_array("I" * len(seq))
    r.flag = 1 | 2 | (64 if read1 else 128) | (16 if reverse else 32)
    r.next_reference_id, r.next_reference_start = 0, start
    return r


def test_bam_sample_checks(tmp_path):
    log = tmp_path / "log"
    none = _bam(tmp_path / "none.bam", [])
    with pytest.raises(InvalidRequest, match=r"^input\[0\]: .*none.bam has no read group with a sample name"):
        dna_steps.prepare_bam(none, None, "input[0]", 1, False, str(tmp_path / "o.bam"), log)
    two = _bam(tmp_path / "two.bam", ["A", "B"])
    with pytest.raises(InvalidRequest, match=r"holds several samples \(A, B\)"):
        dna_steps.prepare_bam(two, None, "input[0]", 1, False, str(tmp_path / "o.bam"), log)
    tumor = _bam(tmp_path / "t.bam", ["TUM"])
    with pytest.raises(InvalidRequest, match=r"^inputs\[0\].sample_inputs\[0\]: .* has sample 'TUM' \(SM\); the body names it 'T1'"):
        dna_steps.prepare_bam(tumor, "T1", "inputs[0].sample_inputs[0]", 1, False, str(tmp_path / "o.bam"), log)
    assert not (tmp_path / "o.bam").exists()  # refused before any work


def test_a_marked_sorted_bam_is_linked_and_an_unmarked_one_remarked(tmp_path):
    pg = [{"ID": "samtools.1", "PN": "samtools", "CL": "samtools markdup in.bam out.bam"}]
    marked = _bam(tmp_path / "m.bam", ["S"], pg=pg)
    assert dna_steps.bam_facts(marked) == {"samples": ["S"], "sorted": True, "duplicates_marked": True}
    assert dna_steps.prepare_bam(marked, "S", "input[0]", 1, False, str(tmp_path / "o1.bam"), tmp_path / "l1") == "S"
    assert (tmp_path / "o1.bam").is_symlink() and (tmp_path / "o1.bam.bai").is_file()
    plain = _bam(tmp_path / "p.bam", ["S"], sort_order="unsorted")
    dna_steps.prepare_bam(plain, None, "input[0]", 1, False, str(tmp_path / "o2.bam"), tmp_path / "l2")
    log = (tmp_path / "l2").read_text().splitlines()
    assert log[1].startswith("samtools collate") and "samtools markdup" in log[1]
    assert dna_steps.bam_facts(str(tmp_path / "o2.bam"))["duplicates_marked"]


def test_a_failing_tool_names_itself_and_the_log_starts_with_the_command(tmp_path):
    log = tmp_path / "x.log"
    with pytest.raises(WorkflowFailed, match=r"^samtools view failed \(exit \d+\)"):
        dna_steps.run_pipeline([["printf", "x"], ["samtools", "view", "-", "/no/such.bam"]], log)
    assert log.read_text().splitlines()[0] == "printf x | samtools view - /no/such.bam"


def test_orientation_counts_fragments_once(tmp_path):
    header_bam = _bam(tmp_path / "h.bam", ["T"])
    alt_seq = REF[10:20] + "T" + REF[21:40]  # REF[20] is 'A'; the read carries T there
    reads = [
        _read("f1r2_a", 10, alt_seq, read1=True, reverse=False, header_bam=header_bam),
        _read("f1r2_a", 10, alt_seq, read1=False, reverse=True, header_bam=header_bam),  # its mate: same fragment
        _read("f1r2_b", 10, alt_seq, read1=True, reverse=False, header_bam=header_bam),
        _read("f2r1_a", 10, alt_seq, read1=False, reverse=False, header_bam=header_bam),
        _read("ref", 10, REF[10:40], read1=True, reverse=False, header_bam=header_bam),
    ]
    path = _bam(tmp_path / "o.bam", ["T"], reads)
    pysam.index(path)
    with pysam.AlignmentFile(path) as bam:
        assert somatic.orientation_counts(bam, "chr1", 20, "T") == (2, 1)
