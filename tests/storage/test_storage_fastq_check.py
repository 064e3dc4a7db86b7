"""FASTQ in object storage checked at submit against a real endpoint (moto's server): existence
and size by HEAD, content by one ranged GET of the first bytes (gzip or plain, a parsable first
record, R1/R2 names matching), never a download of a larger object; errors name the field."""

from __future__ import annotations

import functools
import gzip
import random
from pathlib import Path

import pytest
from pipeline_helpers import fastq_records, install_workflow, rna_body

from localgene.errors import InputNotFound, InvalidRequest
from localgene.jobs import service as jobs
from localgene.jobs.pipeline_inputs import OBJECT_CHECK_BYTES

R2 = "inputs[0].group_inputs[0].files[1]"
R1 = "inputs[0].group_inputs[0].files[0]"


@pytest.fixture
def submit(tmp_path, monkeypatch, config, s3, bucket):
    """check_pipeline on an RNA body whose reads are objects; ``put(name, bytes)`` replaces one."""
    monkeypatch.setenv("LOCALGENE_S3_ENDPOINT_URL", config.endpoint_url)
    monkeypatch.setenv("LOCALGENE_WORKFLOW_DIR", str(install_workflow(tmp_path / "wf")))
    body = rna_body(tmp_path / "data", str(tmp_path / "out") + "/")
    for group in body["inputs"]:
        for sample in group["group_inputs"]:
            keys = []
            for path in sample["files"]:
                name = path.rsplit("/", 1)[1]
                s3.put_object(Bucket=bucket, Key=f"reads/{name}", Body=Path(path).read_bytes())
                keys.append(f"s3a://{bucket}/reads/{name}")
            sample["files"] = keys

    class Submit:
        def __init__(self):
            self.body = body

        def put(self, field_index: int, data: bytes, name: str | None = None) -> None:
            files = body["inputs"][0]["group_inputs"][0]["files"]
            key = name or files[field_index].split(f"{bucket}/", 1)[1]
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            files[field_index] = f"s3a://{bucket}/{key}"

        def __call__(self):
            return jobs.check_pipeline(body, home=tmp_path / "home")

    return Submit()


def many_records(prefix: str, n: int, mate: int, length: int = 50) -> str:
    """``n`` seeded FASTQ records named like :func:`fastq_records`' (quicker for many reads)."""
    bases = "".join(random.Random(n * 10 + mate).choices("ACGT", k=n * length))
    return "".join(f"@{prefix}.{i} {mate}:N:0:1\n{bases[i * length:(i + 1) * length]}\n+\n{'I' * length}\n"
                   for i in range(n))


@functools.cache
def big_pair(n: int = 40000) -> tuple[bytes, bytes]:
    """R1/R2 of ``n`` read pairs, gzip, several times larger than what the check reads."""
    return tuple(gzip.compress(many_records("big", n, mate).encode(), compresslevel=1) for mate in (1, 2))


def test_good_objects_pass_reading_only_their_first_bytes(submit, s3_server, bucket):
    r1, r2 = big_pair()
    assert min(len(r1), len(r2)) > 2 * OBJECT_CHECK_BYTES
    submit.put(0, r1, "big/b_R1.fastq.gz")
    submit.put(1, r2, "big/b_R2.fastq.gz")
    request, _, size = submit()
    assert request is not submit.body and size > len(r1) + len(r2)
    for key in ("big/b_R1.fastq.gz", "big/b_R2.fastq.gz"):
        served = s3_server.app.bytes_for(bucket, key)
        assert 0 < served <= OBJECT_CHECK_BYTES, (key, served)
    # every other read file (small) was read too: whole, in one request each
    assert s3_server.app.get_requests[f"/{bucket}/reads/c2_R1.fastq.gz"] == 1


def test_a_multi_member_gzip_and_a_plain_object_pass(submit):
    text = fastq_records("c1", 40, 1, seed=1)
    half = len(text.splitlines(keepends=True)) // 2
    lines = text.splitlines(keepends=True)
    submit.put(0, gzip.compress("".join(lines[:half]).encode()) + gzip.compress("".join(lines[half:]).encode()))
    submit.put(1, fastq_records("c1", 40, 2, seed=1).encode(), "reads/c1_R2.fastq")
    submit()


def test_names_are_compared_over_what_both_starts_hold(submit):
    r1, _ = big_pair()
    other = gzip.compress(many_records("other", 40000, 2).encode(), compresslevel=1)
    submit.put(0, r1, "big/o_R1.fastq.gz")
    submit.put(1, other, "big/o_R2.fastq.gz")
    with pytest.raises(InvalidRequest) as err:
        submit()
    assert err.value.field == R2
    assert str(err.value) == (f"{R2}: does not pair with {R1}: read 1 is 'other.0' here and 'big.0' there "
                              "(R1 and R2 must list the same reads in the same order)")


def test_a_large_object_is_not_called_short_for_being_cut(submit):
    """R1's start holds fewer whole reads than small R2 (longer reads): no 'fewer reads' error,
    since the check did not read all of R1."""
    long_reads = gzip.compress(many_records("big", 20000, 1, length=150).encode(), compresslevel=1)
    submit.put(0, long_reads, "big/l_R1.fastq.gz")
    submit.put(1, gzip.compress(many_records("big", 1000, 2).encode()), "big/l_R2.fastq.gz")
    submit()


@pytest.mark.parametrize("damage,index,needle", [
    ("not-gzip", 0, "ends with .gz but is not gzip-compressed"),
    ("truncated-gzip", 1, "is not readable gzip: the compressed data ends before its end-of-stream marker"),
    ("corrupt-gzip", 0, "is not readable gzip: "),
    ("not-fastq", 1, "is not FASTQ: record 1 does not start with '@'"),
    ("qual-length", 0, "is not FASTQ: record 2 has 50 bases but 49 quality values"),
    ("three-lines", 0, "is not FASTQ: record 40 is not four lines"),
    ("empty", 1, "holds no reads"),
    ("fewer-reads", 1, "has fewer reads than its mate (10); R1 and R2 must list the same reads"),
    ("no-record-in-range", 0, f"is not FASTQ: no complete record in its first {OBJECT_CHECK_BYTES} bytes"),
])
def test_bad_objects_are_refused_naming_the_field(submit, damage, index, needle):
    good = fastq_records("c1", 40, index + 1, seed=1)
    lines = good.splitlines(keepends=True)
    if damage == "not-fastq":
        text = ">chr1\nACGT\n"
    elif damage == "qual-length":
        lines[7] = lines[7][:-2] + "\n"
        text = "".join(lines)
    elif damage == "three-lines":
        text = "".join(lines[:-1])
    elif damage == "empty":
        text = ""
    elif damage == "fewer-reads":
        text = "".join(lines[:40])
    elif damage == "no-record-in-range":
        text = "@r1\n" + "A" * (2 * OBJECT_CHECK_BYTES) + "\n+\n" + "I" * (2 * OBJECT_CHECK_BYTES) + "\n"
    else:
        text = good
    data = gzip.compress(text.encode())
    if damage == "not-gzip":
        data = text.encode()
    elif damage == "truncated-gzip":
        data = data[: len(data) - 12]
    elif damage == "corrupt-gzip":
        data = data[:12] + bytes(b ^ 0xFF for b in data[12:40]) + data[40:]
    elif damage == "no-record-in-range":
        data = text.encode()
        submit.put(index, data, "reads/huge_R1.fastq")
    if damage != "no-record-in-range":
        submit.put(index, data)
    with pytest.raises(InvalidRequest) as err:
        submit()
    assert err.value.field == [R1, R2][index]
    assert needle in str(err.value), str(err.value)


def test_a_missing_object_is_found_by_its_head(submit, bucket):
    submit.body["inputs"][1]["group_inputs"][1]["files"][0] = f"s3a://{bucket}/reads/none_R1.fastq.gz"
    with pytest.raises(InputNotFound) as err:
        submit()
    assert str(err.value) == (f"inputs[1].group_inputs[1].files[0]: s3a://{bucket}/reads/none_R1.fastq.gz "
                              "does not exist (no such object)")


def test_a_local_r1_pairs_with_an_object_r2(submit, tmp_path):
    local = tmp_path / "data" / "c1_R1.fastq.gz"
    submit.body["inputs"][0]["group_inputs"][0]["files"][0] = str(local)
    submit()
    submit.put(1, gzip.compress(fastq_records("zz", 40, 2, seed=1).encode()))
    with pytest.raises(InvalidRequest) as err:
        submit()
    assert err.value.field == R2 and "read 1 is 'zz.0' here and 'c1.0' there" in str(err.value)
