"""Input preparation: indexes made inside the job folder, bad BAMs refused early and clearly."""

import pysam
import pytest

from localgene.cnvkit.inputs import InputProblem, check_inputs, link_bam, link_fasta

CONTIGS = {"chr1": 5000, "chr2": 4000}


@pytest.fixture
def reference(tmp_path):
    fa = tmp_path / "user" / "ref.fa"
    fa.parent.mkdir()
    fa.write_text("".join(f">{c}\n{'ACGT' * (n // 4)}\n" for c, n in CONTIGS.items()))
    return fa


def write_bam(path, positions, contigs=CONTIGS, sort_order="coordinate"):
    header = {"HD": {"VN": "1.6", "SO": sort_order} if sort_order else {"VN": "1.6"},
              "SQ": [{"SN": c, "LN": n} for c, n in contigs.items()]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for i, (ref_id, pos) in enumerate(positions):
            a = pysam.AlignedSegment()
            a.query_name, a.reference_id, a.reference_start = f"r{i}", ref_id, pos
            a.query_sequence, a.cigarstring, a.mapping_quality = "A" * 50, "50M", 60
            a.query_qualities = pysam.qualitystring_to_array("I" * 50)
            bam.write(a)
    return path


def test_fasta_index_is_built_in_the_job_folder(tmp_path, reference):
    fai = link_fasta(reference, tmp_path / "job" / "inputs" / "reference.fa")
    assert fai == tmp_path / "job" / "inputs" / "reference.fa.fai"
    assert fai.read_text().startswith("chr1\t5000\t")
    assert not (reference.parent / "ref.fa.fai").exists()  # nothing written beside the user's file


def test_existing_fasta_index_is_reused(tmp_path, reference):
    pysam.faidx(str(reference))
    fai = link_fasta(reference, tmp_path / "job" / "reference.fa")
    assert fai.is_symlink() and fai.resolve() == (reference.parent / "ref.fa.fai").resolve()


def test_bam_index_is_built_in_the_job_folder(tmp_path):
    src = write_bam(tmp_path / "T1.bam", [(0, 10), (0, 100), (1, 5)])
    bai = link_bam(src, tmp_path / "job" / "T1.bam")
    assert bai.is_file() and not bai.is_symlink()
    assert not (tmp_path / "T1.bam.bai").exists()
    with pysam.AlignmentFile(str(tmp_path / "job" / "T1.bam")) as bam:
        assert bam.count("chr1") == 2


def test_existing_bam_index_is_reused(tmp_path):
    src = write_bam(tmp_path / "T1.bam", [(0, 10)])
    pysam.index(str(src))
    bai = link_bam(src, tmp_path / "job" / "T1.bam")
    assert bai.is_symlink() and bai.resolve() == (tmp_path / "T1.bam.bai").resolve()


def test_queryname_sorted_bam_is_refused(tmp_path):
    src = write_bam(tmp_path / "N.bam", [(0, 10)], sort_order="queryname")
    with pytest.raises(InputProblem, match=r"^control_inputs\[0\]: .*N.bam is not coordinate-sorted \(its header says SO:queryname\)"):
        link_bam(src, tmp_path / "job" / "N.bam", field="control_inputs[0]")


def test_unsorted_bam_without_sort_order_is_refused_when_indexing(tmp_path):
    src = write_bam(tmp_path / "N.bam", [(0, 900), (0, 10), (1, 5)], sort_order=None)
    with pytest.raises(InputProblem, match="is not coordinate-sorted; sort it with `samtools sort`"):
        link_bam(src, tmp_path / "job" / "N.bam")
    assert not list((tmp_path / "job").glob("*.bai*"))  # no half index left behind


def test_a_file_that_is_not_a_bam_is_refused(tmp_path):
    src = tmp_path / "T.bam"
    src.write_text("not a bam\n")
    with pytest.raises(InputProblem, match="is not a readable BAM file"):
        link_bam(src, tmp_path / "job" / "T.bam")


def test_reads_on_contigs_absent_from_the_reference_are_refused(tmp_path, reference):
    fai = link_fasta(reference, tmp_path / "job" / "reference.fa")
    bed = tmp_path / "t.bed"
    bed.write_text("chr1\t100\t200\n")
    src = write_bam(tmp_path / "T.bam", [(0, 10), (1, 10), (2, 10)], contigs={**CONTIGS, "chrUn_1": 3000})
    link_bam(src, tmp_path / "job" / "T.bam")
    with pytest.raises(InputProblem, match="has reads on contigs absent from the reference: chrUn_1"):
        check_inputs(fai, {"T": tmp_path / "job" / "T.bam"}, bed)


def test_bam_from_another_assembly_is_refused(tmp_path, reference):
    fai = link_fasta(reference, tmp_path / "job" / "reference.fa")
    bed = tmp_path / "t.bed"
    bed.write_text("chr1\t100\t200\n")
    src = write_bam(tmp_path / "T.bam", [(0, 10)], contigs={"chr1": 9999, "chr2": 4000})
    link_bam(src, tmp_path / "job" / "T.bam")
    with pytest.raises(InputProblem, match="aligned to another assembly: contig chr1 is 9999 bp in the BAM but 5000 bp"):
        check_inputs(fai, {"T": tmp_path / "job" / "T.bam"}, bed)


@pytest.mark.parametrize("text, fragment", [
    ("chrZ\t1\t100\n", "names contigs absent from the reference: chrZ"),
    ("chr1\tone\t100\n", "is not a BED region"),
    ("# nothing\n", "holds no regions"),
])
def test_bad_target_beds_are_refused(tmp_path, reference, text, fragment):
    fai = link_fasta(reference, tmp_path / "job" / "reference.fa")
    bed = tmp_path / "t.bed"
    bed.write_text(text)
    with pytest.raises(InputProblem, match="^bed: ") as err:
        check_inputs(fai, {}, bed)
    assert fragment in str(err.value)


def test_good_inputs_are_summarised(tmp_path, reference):
    fai = link_fasta(reference, tmp_path / "job" / "reference.fa")
    bed = tmp_path / "t.bed"
    bed.write_text("chr1\t100\t200\nchr2\t10\t90\n")
    src = write_bam(tmp_path / "T.bam", [(0, 10), (1, 10), (1, 20)])
    link_bam(src, tmp_path / "job" / "T.bam")
    summary = check_inputs(fai, {"T": tmp_path / "job" / "T.bam"}, bed)
    assert summary["samples"]["T"]["mapped_reads"] == 3
    assert summary["target_regions"] == 2
