"""localgene.pipelines.rna.plan: the config read once, and the tools' argument lists."""

from __future__ import annotations

import copy
import gzip

import pytest

from localgene.errors import InputNotFound, InvalidRequest
from localgene.pipelines.rna import plan as rna_plan


def body(tmp_path=None, **fields):
    base = tmp_path or "/data"
    b = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {"group_name": "ctl", "group_inputs": [
                {"sample_name": f"c{i}", "files": [f"{base}/c{i}_R1.fq.gz", f"{base}/c{i}_R2.fq.gz"]} for i in (1, 2)]},
            {"group_name": "kd-1", "group_inputs": [
                {"sample_name": f"k{i}", "files": [f"{base}/k{i}_R1.fq.gz", f"{base}/k{i}_R2.fq.gz"]} for i in (1, 2)]},
            {"group_name": "oe", "group_inputs": [
                {"sample_name": f"o{i}", "files": [f"{base}/o{i}_R1.fq.gz", f"{base}/o{i}_R2.fq.gz"]} for i in (1, 2)]},
        ],
        "output": "/out",
        "ref": f"{base}/genome.fa",
        "gtf": f"{base}/genes.gtf",
    }  # fmt: skip
    b.update(fields)
    return b


def test_first_group_is_the_reference_and_each_other_group_a_contrast():
    plan = rna_plan.build_plan(body())
    assert plan.reference_group == "ctl"
    assert plan.contrasts == ["kd-1_vs_ctl", "oe_vs_ctl"]
    assert plan.sample_names == ["c1", "c2", "k1", "k2", "o1", "o2"]
    assert plan.sample("k2").group == "kd-1" and plan.sample("k2").r2.endswith("k2_R2.fq.gz")
    assert plan.library_type == "fr-unstranded" and plan.adapt is None and not plan.qc


def test_null_optional_fields_count_as_not_sent():
    plan = rna_plan.build_plan(body(library_type=None, adapt=None, is_export_qc=None, bed=None))
    assert plan.library_type == "fr-unstranded" and plan.adapt is None and plan.qc is False


@pytest.mark.parametrize(
    "library_type,s,strandness,others",
    [("fr-unstranded", "0", None, [1, 2]), ("fr-firststrand", "2", "RF", [1]), ("fr-secondstrand", "1", "FR", [2])],
)
def test_library_type_reaches_hisat2_and_featurecounts(library_type, s, strandness, others):
    fc = rna_plan.featurecounts_argv("g.gtf", ["a.bam", "b.bam"], "out.txt", rna_plan.LIBRARY_TYPES[library_type].featurecounts, 2)
    assert fc[fc.index("-s") + 1] == s
    assert "-p" in fc and "--countReadPairs" in fc and fc[-2:] == ["a.bam", "b.bam"]
    h = rna_plan.hisat2_argv("idx/genome", "r1.fq.gz", "r2.fq.gz", library_type, 2, "s.txt")
    if strandness:
        assert h[h.index("--rna-strandness") + 1] == strandness
    else:
        assert "--rna-strandness" not in h
    assert "--known-splicesite-infile" not in h
    assert rna_plan.check_strand_settings(library_type) == others


def test_plain_index_gets_known_splice_sites_at_alignment():
    h = rna_plan.hisat2_argv("idx/genome", "r1", "r2", "fr-firststrand", 2, "s.txt", known_splicesites="idx/ss.txt")
    assert h[h.index("--known-splicesite-infile") + 1] == "idx/ss.txt"


def test_adapter_is_trimmed_from_both_reads():
    argv = rna_plan.cutadapt_argv("AGATCGGAAGAGC", "a_1.fq", "a_2.fq", "o_1.fq", "o_2.fq", "r.json", 2)
    assert argv[argv.index("-a") + 1] == argv[argv.index("-A") + 1] == "AGATCGGAAGAGC"
    assert argv[-2:] == ["a_1.fq", "a_2.fq"] and argv[argv.index("--json") + 1] == "r.json"


def test_a_group_of_one_sample_is_refused_naming_the_group():
    b = body()
    b["inputs"][1]["group_inputs"] = b["inputs"][1]["group_inputs"][:1]
    with pytest.raises(InvalidRequest) as err:
        rna_plan.build_plan(b)
    assert err.value.field == "inputs[1].group_inputs" and "'kd-1'" in str(err.value)


def test_qc_without_bed_is_refused():
    with pytest.raises(InvalidRequest) as err:
        rna_plan.build_plan(body(is_export_qc=True))
    assert err.value.field == "bed"


def test_output_csv_or_folder():
    assert rna_plan.build_plan(body(output="s3a://b/x/table.CSV")).output_is_csv
    assert not rna_plan.build_plan(body(output="s3a://b/x/")).output_is_csv


def test_local_files_checked_naming_the_field(tmp_path):
    b = body(tmp_path)
    for name in ("genome.fa", "genes.gtf"):
        (tmp_path / name).write_text(">x\nACGT\n")
    for group in b["inputs"]:
        for sample in group["group_inputs"]:
            for path in sample["files"]:
                with gzip.open(path, "wt") as out:
                    out.write("@r\nACGT\n+\nIIII\n")
    rna_plan.check_local_files(rna_plan.build_plan(b))
    missing = copy.deepcopy(b)
    missing["inputs"][2]["group_inputs"][1]["files"][1] = str(tmp_path / "nope.fq.gz")
    with pytest.raises(InputNotFound) as err:
        rna_plan.check_local_files(rna_plan.build_plan(missing))
    assert err.value.field == "inputs[2].group_inputs[1].files[1]"
    (tmp_path / "k1_R1.fq.gz").write_bytes(gzip.compress(b">not a fastq\nACGT\n"))
    with pytest.raises(InvalidRequest) as err:
        rna_plan.check_local_files(rna_plan.build_plan(b))
    assert err.value.field == "inputs[1].group_inputs[0].files[0]" and "not a FASTQ" in str(err.value)
