"""The path forms a job may name, and the malformed ones refused with the field named."""

import os

import pytest

from localgene.errors import InvalidRequest
from localgene.storage import parse_location

VALID = [
    ("s3a://genes/cnvkit/Son_S2_ALL.sort.mkdup.bam", "s3a", "genes", "cnvkit/Son_S2_ALL.sort.mkdup.bam"),
    ("s3://genes/hg38.filtered.fa", "s3", "genes", "hg38.filtered.fa"),
    ("S3A://genes/a.bam", "s3a", "genes", "a.bam"),
    ("s3a://my.bucket-01/deep/er/key with space.bed", "s3a", "my.bucket-01", "deep/er/key with space.bed"),
    ("s3a://genes/odd?name#1.bam", "s3a", "genes", "odd?name#1.bam"),  # '?', '#' are key chars
    ("s3a://Legacy_Bucket/x.bam", "s3a", "Legacy_Bucket", "x.bam"),
    ("s3a://genes/dir//x.bam", "s3a", "genes", "dir//x.bam"),
    ("s3://genes/数据/样本.bam", "s3", "genes", "数据/样本.bam"),
]


@pytest.mark.parametrize("text,scheme,bucket,key", VALID)
def test_s3_forms(text, scheme, bucket, key):
    loc = parse_location(text, "ref")
    assert (loc.scheme, loc.bucket, loc.key, loc.is_s3) == (scheme, bucket, key, True)
    assert loc.original == text
    assert loc.basename == key.rsplit("/", 1)[-1]


def test_local_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_location("/data/a.bam").path == "/data/a.bam"
    assert parse_location("data/../a.bam").path == str(tmp_path / "a.bam")
    assert parse_location("a.bam", base_dir="/srv/jobs").path == "/srv/jobs/a.bam"
    assert parse_location("file:///data/my%20file.bam").path == "/data/my file.bam"
    assert parse_location("file://localhost/data/a.bam").path == "/data/a.bam"
    assert parse_location("odd:name.bam").path == str(tmp_path / "odd:name.bam")
    loc = parse_location("file:///data/a.bam")
    assert (loc.scheme, loc.is_s3, loc.basename) == ("file", False, "a.bam")


def test_bucket_root_only_where_allowed():
    assert parse_location("s3a://genes", "output_dir", require_key=False).key == ""
    assert parse_location("s3a://genes/", "output_dir", require_key=False).key == ""
    assert parse_location("s3a://genes/out/", "output_dir", require_key=False).key == "out/"
    with pytest.raises(InvalidRequest, match=r"^bed: .*names a bucket but no object"):
        parse_location("s3a://genes", "bed")
    with pytest.raises(InvalidRequest, match=r"names a bucket but no object"):
        parse_location("s3a://genes/", "bed")


INVALID = [
    ("", "is empty"),
    ("   ", "is empty"),
    (" s3a://genes/a.bam", "whitespace"),
    ("s3a:///a.bam", "names no bucket"),
    ("s3a://", "names no bucket"),
    ("s3a:genes/a.bam", "malformed"),
    ("s3a:/genes/a.bam", "malformed"),
    ("s3a://ge/a.bam", "not a valid bucket name"),
    ("s3a://-genes/a.bam", "not a valid bucket name"),
    ("s3a://gen es/a.bam", "not a valid bucket name"),
    ("s3a://gen%20es/a.bam", "not a valid bucket name"),
    ("s3a://gen..es/a.bam", "not a valid bucket name"),
    ("s3a://genes/dir/", "names a folder"),
    ("s3a://genes/dir/..", "does not end in a file name"),
    ("s3a://genes/a\nb.bam", "control characters"),
    ("s3a://genes/" + "k" * 1025, "longer than 1024 bytes"),
    ("http://example.com/a.bam", "unsupported scheme http://"),
    ("https://example.com/a.bam", "unsupported scheme https://"),
    ("hdfs://namenode/a.bam", "unsupported scheme hdfs://"),
    ("s3n://genes/a.bam", "unsupported scheme s3n://"),
    ("obs://genes/a.bam", "unsupported scheme obs://"),
    ("file://otherhost/a.bam", "no other host"),
    ("file://relative/a.bam", "no other host"),
    ("file:relative.bam", "malformed"),
]


@pytest.mark.parametrize("text,message", INVALID)
def test_malformed_paths_name_the_field(text, message):
    with pytest.raises(InvalidRequest) as info:
        parse_location(text, "control_inputs[1]")
    assert str(info.value).startswith("control_inputs[1]: ")
    assert message in str(info.value)
    assert info.value.code == "DLI.0001" and info.value.http_status == 400
    assert info.value.field == "control_inputs[1]"


def test_not_a_string():
    with pytest.raises(InvalidRequest, match="^ref: must be a path string, not int"):
        parse_location(3, "ref")


def test_sibling_and_child():
    bam = parse_location("s3a://genes/cnvkit/x.bam")
    assert bam.sibling("x.bam.bai").uri == "s3a://genes/cnvkit/x.bam.bai"
    assert parse_location("s3://genes/x.bam").sibling("x.bai").uri == "s3://genes/x.bai"
    out = parse_location("s3a://genes/cnvkit/output", require_key=False)
    assert out.child("job-1").child("plots/a.png").uri == "s3a://genes/cnvkit/output/job-1/plots/a.png"
    root = parse_location("s3a://genes/", require_key=False)
    assert root.child("job-1/a.cns").key == "job-1/a.cns"
    local = parse_location("/data/x.bam")
    assert local.sibling("x.bai").path == "/data/x.bai"
    assert parse_location("/out").child("j/a.cns").path == os.path.join("/out", "j", "a.cns")
