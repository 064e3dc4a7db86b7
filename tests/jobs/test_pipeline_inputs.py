"""The files of a pipeline body: field paths, putting local paths back, relative paths, and the
submit-time FASTQ and replicate checks."""

from __future__ import annotations

import gzip

import pytest
from pipeline_helpers import fastq_records, germline_body, rna_body, write_pair

from localgene.errors import InvalidRequest
from localgene.jobs import pipeline_inputs as pi

SOMATIC = {"job_type": "DNA_SOMATIC", "output": "s3a://b/out.vcf", "file_type": "BAM", "ref": "hg38",
           "inputs": [{"sample_type": "tumor", "sample_inputs": ["/d/t.bam"]},
                      {"sample_type": "normal", "sample_inputs": ["/d/n.bam"]}],
           "tumor_sample_name": "T", "normal_sample_name": "N", "intervals": ["wgs"], "pon": "/d/pon.vcf.gz",
           "germline_resource": "gnomad", "knownsites": ["dbsnp"], "mutect_bam_output": "/d/m.bam"}


def test_fields_of_each_pipeline(tmp_path):
    assert pi.input_fields(SOMATIC) == {
        "ref": "hg38", "knownsites[0]": "dbsnp", "intervals[0]": "wgs", "pon": "/d/pon.vcf.gz",
        "germline_resource": "gnomad", "inputs[0].sample_inputs[0]": "/d/t.bam",
        "inputs[1].sample_inputs[0]": "/d/n.bam"}
    assert pi.output_fields(SOMATIC) == {"output": "s3a://b/out.vcf", "mutect_bam_output": "/d/m.bam"}
    rna = rna_body(tmp_path, "/out/", bed="rrna")
    fields = pi.input_fields(rna)
    assert list(fields)[:3] == ["ref", "gtf", "bed"]
    assert fields["inputs[1].group_inputs[0].files[1]"].endswith("t1_R2.fastq.gz")
    assert len(pi.read_fields(rna)) == 8
    germ = germline_body(tmp_path, "/o.vcf")
    assert list(pi.input_fields(germ)) == ["ref", "knownsites[0]", "input[0]", "input[1]"]


def test_with_values_sets_nested_fields_on_a_copy(tmp_path):
    rna = rna_body(tmp_path, "/out/")
    out = pi.with_values(rna, {"inputs[1].group_inputs[0].files[1]": "/local/x.fq.gz", "ref": "/local/g.fa",
                               "ref~1": "/local/g.fa.fai"})
    assert out["inputs"][1]["group_inputs"][0]["files"][1] == "/local/x.fq.gz" and out["ref"] == "/local/g.fa"
    assert "ref~1" not in out and rna["ref"] != "/local/g.fa", "the body given is not changed"


def test_absolute_paths_keep_names_and_urls(tmp_path):
    body = {**SOMATIC, "ref": "refs/g.fa", "inputs": [{"sample_type": "tumor", "sample_inputs": ["t.bam"]},
                                                       {"sample_type": "normal", "sample_inputs": ["s3a://b/n.bam"]}],
            "output": "out/"}
    out = pi.absolute_paths(body, tmp_path)
    assert out["ref"] == str(tmp_path / "refs/g.fa") and out["germline_resource"] == "gnomad"
    assert out["inputs"][0]["sample_inputs"] == [str(tmp_path / "t.bam")]
    assert out["inputs"][1]["sample_inputs"] == ["s3a://b/n.bam"] and out["output"] == str(tmp_path / "out") + "/"


def test_replicates_are_required_per_group(tmp_path):
    pi.check_replicates(rna_body(tmp_path, "/out/"))
    single = rna_body(tmp_path, "/out/", samples_per_group=1)
    with pytest.raises(InvalidRequest) as err:
        pi.check_replicates(single)
    assert str(err.value).startswith("inputs[0].group_inputs: group 'control' has 1 sample; ")
    assert "DESeq2" in str(err.value)


def check(body):
    pi.check_fastq(body, pi.read_fields(body))


def test_good_pairs_plain_and_gzip_pass(tmp_path):
    check(rna_body(tmp_path, "/out/"))
    plain = write_pair(tmp_path / "plain", "p", gz=False)
    check(germline_body(tmp_path, "/o.vcf", input=plain))


@pytest.mark.parametrize("damage,index,needle", [
    ("swap-names", 1, "does not pair with input[0]: read 1 is 'x.0' here and 'g.0' there"),
    ("not-gzip", 0, "ends with .gz but is not gzip-compressed"),
    ("truncated-gzip", 0, "is not readable gzip or plain text"),
    ("not-fastq", 1, "is not FASTQ: record 1 does not start with '@'"),
    ("qual-length", 0, "record 2 has 50 bases but 49 quality values"),
    ("empty", 1, "holds no reads"),
    ("fewer-reads", 1, "has fewer reads than its mate (10)"),
])
def test_bad_fastq_is_refused_naming_the_field(tmp_path, damage, index, needle):
    body = germline_body(tmp_path, "/o.vcf")
    target = body["input"][index]
    good = gzip.decompress(open(target, "rb").read()).decode()
    if damage == "swap-names":
        text = fastq_records("x", 40, 2, 5)
    elif damage == "not-fastq":
        text = ">chr1\nACGT\n"
    elif damage == "qual-length":
        lines = good.splitlines()
        lines[7] = lines[7][:-1]
        text = "\n".join(lines) + "\n"
    elif damage == "empty":
        text = ""
    elif damage == "fewer-reads":
        text = "".join(good.splitlines(keepends=True)[:40])
    else:
        text = good
    data = gzip.compress(text.encode())
    if damage == "not-gzip":
        data = text.encode()
    elif damage == "truncated-gzip":
        data = data[: len(data) // 2]
    with open(target, "wb") as fh:
        fh.write(data)
    with pytest.raises(InvalidRequest) as err:
        check(body)
    assert err.value.field == f"input[{index}]"
    assert needle in str(err.value)


def test_bam_inputs_are_not_read_as_fastq(tmp_path):
    (tmp_path / "s.bam").write_bytes(b"BAM\1")
    check(germline_body(tmp_path, "/o.vcf", file_type="BAM", input=[str(tmp_path / "s.bam")]))


def test_rna_error_names_the_nested_field(tmp_path):
    body = rna_body(tmp_path, "/out/")
    (tmp_path / "t1_R2.fastq.gz").write_bytes(b"nonsense")
    with pytest.raises(InvalidRequest, match=r"^inputs\[1\]\.group_inputs\[0\]\.files\[1\]: ends with .gz but"):
        check(body)
