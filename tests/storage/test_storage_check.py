"""Submit-time checks against a real endpoint: HEAD only, errors that name the field and path."""

import json
import time
import urllib.request

import boto3
import pytest
from s3_endpoint import free_port, make_config

from localgene.errors import InputNotFound, InputPermissionDenied, InvalidRequest, StorageError
from localgene.storage import check_inputs, check_output_dir, cnvkit_input_fields


@pytest.fixture
def job_objects(s3, bucket):
    """A CNVkit job's inputs in the bucket, with both .bai spellings and a .fai."""
    objs = {
        "cnvkit/Son.bam": 3000, "cnvkit/Son.bam.bai": 30,
        "cnvkit/Father.bam": 2000, "cnvkit/Father.bai": 20,
        "cnvkit/Mother.bam": 1000,
        "cnvkit/hg38.fa": 500, "cnvkit/hg38.fa.fai": 50,
        "cnvkit/targets.bed": 100, "cnvkit/genes.gff3": 70,
    }
    for key, size in objs.items():
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)
    p = f"s3a://{bucket}/cnvkit/"
    return {
        "experimental_inputs": [p + "Son.bam"],
        "control_inputs": [p + "Father.bam", p + "Mother.bam"],
        "ref": p + "hg38.fa",
        "bed": p + "targets.bed",
        "annotation_file": p + "genes.gff3",
    }


def test_present_inputs_report_sizes_etags_companions(job_objects, config, s3_server):
    report = check_inputs(job_objects, config)
    by_field = {i.field: i for i in report.inputs}
    assert list(by_field) == ["experimental_inputs[0]", "control_inputs[0]", "control_inputs[1]",
                              "ref", "bed", "annotation_file"]
    assert report.input_size == 3000 + 2000 + 1000 + 500 + 100 + 70  # index files not counted
    son = by_field["experimental_inputs[0]"]
    assert son.size == 3000 and len(son.etag) == 32 and son.location.is_s3
    assert [c.location.basename for c in son.companions] == ["Son.bam.bai"]
    assert [c.location.basename for c in by_field["control_inputs[0]"].companions] == ["Father.bai"]
    assert by_field["control_inputs[1]"].companions == ()
    assert [(c.location.basename, c.size) for c in by_field["ref"].companions] == [("hg38.fa.fai", 50)]
    doc = report.to_json()
    assert doc["input_size"] == report.input_size
    assert doc["inputs"][0]["companions"][0]["path"].endswith("/cnvkit/Son.bam.bai")
    json.dumps(doc)


def test_head_only_never_a_download(job_objects, config, s3_server, bucket):
    check_inputs(job_objects, config)
    assert s3_server.app.bytes_for(bucket, "cnvkit/Son.bam") == 0
    assert s3_server.app.bytes_for(bucket, "cnvkit/hg38.fa") == 0


def test_missing_key(job_objects, config, bucket):
    job_objects["control_inputs"][1] = f"s3a://{bucket}/cnvkit/Absent.bam"
    with pytest.raises(InputNotFound) as info:
        check_inputs(job_objects, config)
    msg = str(info.value)
    assert msg.startswith("control_inputs[1]: ") and f"s3a://{bucket}/cnvkit/Absent.bam" in msg
    assert "does not exist" in msg
    assert info.value.code == "DLI.0002" and info.value.http_status == 400


def test_missing_bucket(job_objects, config):
    job_objects["ref"] = "s3a://no-such-bucket-here/hg38.fa"
    with pytest.raises(InputNotFound) as info:
        check_inputs(job_objects, config)
    msg = str(info.value)
    assert msg.startswith("ref: bucket 'no-such-bucket-here' does not exist")
    assert "s3a://no-such-bucket-here/hg38.fa" in msg


def test_first_failing_field_in_job_order(job_objects, config, bucket):
    job_objects["bed"] = f"s3a://{bucket}/nope.bed"
    job_objects["experimental_inputs"] = [f"s3a://{bucket}/nope.bam"]
    with pytest.raises(InputNotFound, match=r"^experimental_inputs\[0\]: "):
        check_inputs(job_objects, config)


def test_unreachable_endpoint_is_a_clear_error(job_objects, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(StorageError) as info:
        check_inputs({"ref": "s3a://genes/hg38.fa"}, make_config(dead))
    assert time.monotonic() - start < 20
    msg = str(info.value)
    assert msg.startswith("ref: cannot check s3a://genes/hg38.fa: cannot reach the object store")
    assert dead in msg
    assert info.value.http_status == 502


def test_no_credentials_at_all(monkeypatch, config):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(InputPermissionDenied, match=r"^bed: cannot read s3a://genes/t.bed: no usable "
                                                    r"credentials.*AWS_ACCESS_KEY_ID"):
        check_inputs({"bed": "s3a://genes/t.bed"}, config)


def test_malformed_path_names_field(config):
    with pytest.raises(InvalidRequest, match=r"^control_inputs\[0\]: .*unsupported scheme hdfs://"):
        check_inputs({"control_inputs": ["hdfs://nn/a.bam"]}, config)


def test_same_file_name_twice_is_refused(s3, bucket, config):
    for key in ("a/S1.bam", "b/S1.bam"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    with pytest.raises(InvalidRequest, match=r"^control_inputs\[0\]: .*same file name"):
        check_inputs({"experimental_inputs": [f"s3a://{bucket}/a/S1.bam"],
                      "control_inputs": [f"s3://{bucket}/b/S1.bam"]}, config)
    # the same object named twice is fine
    check_inputs({"experimental_inputs": [f"s3a://{bucket}/a/S1.bam"],
                  "control_inputs": [f"s3://{bucket}/a/S1.bam"]}, config)


def test_local_files(tmp_path, config):
    (tmp_path / "s.bam").write_bytes(b"b" * 40)
    (tmp_path / "s.bai").write_bytes(b"i" * 4)
    (tmp_path / "ref.fa").write_bytes(b"r" * 10)
    (tmp_path / "dir").mkdir()
    report = check_inputs({"experimental_inputs": [str(tmp_path / "s.bam")],
                           "ref": f"file://{tmp_path}/ref.fa"}, config)
    assert report.input_size == 50
    assert [c.location.basename for c in report.inputs[0].companions] == ["s.bai"]
    assert report.inputs[0].etag is None
    with pytest.raises(InputNotFound, match=r"^bed: .*missing.bed does not exist"):
        check_inputs({"bed": str(tmp_path / "missing.bed")}, config)
    with pytest.raises(InvalidRequest, match=r"^bed: .* is a folder"):
        check_inputs({"bed": str(tmp_path / "dir")}, config)


def test_cnvkit_input_fields():
    body = {"experimental_inputs": ["a"], "control_inputs": ["b"], "output_dir": "o", "ref": "r",
            "bed": "t", "has_annotate": False, "annotation_file": "g", "target_conf": "--split"}
    assert cnvkit_input_fields(body) == {"experimental_inputs": ["a"], "control_inputs": ["b"],
                                         "ref": "r", "bed": "t"}
    body["has_annotate"] = True
    assert cnvkit_input_fields(body)["annotation_file"] == "g"


class TestAuthEnforced:
    """moto with IAM authentication switched on: requests with bad credentials really fail."""

    @pytest.fixture
    def auth_server(self, moto_process):
        server = moto_process()
        ep = server.endpoint
        s3 = boto3.client("s3", endpoint_url=ep)
        iam = boto3.client("iam", endpoint_url=ep)
        s3.create_bucket(Bucket="secured")
        s3.put_object(Bucket="secured", Key="a.bam", Body=b"x" * 10)
        keys = {}
        for user, actions in (("reader", ["s3:GetObject", "s3:ListBucket"]), ("nobody", None)):
            iam.create_user(UserName=user)
            if actions:
                iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
            keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
        # From now on moto checks every request's signature and the IAM policies.
        urllib.request.urlopen(urllib.request.Request(
            f"{ep}/moto-api/reset-auth", data=b"0", method="POST",
            headers={"Content-Type": "text/plain"}), timeout=10).close()
        return server, keys

    def _use(self, monkeypatch, key_id, secret):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    def test_valid_credentials_pass(self, auth_server, monkeypatch):
        server, keys = auth_server
        self._use(monkeypatch, keys["reader"]["AccessKeyId"], keys["reader"]["SecretAccessKey"])
        report = check_inputs({"ref": "s3a://secured/a.bam"}, make_config(server.endpoint))
        assert report.input_size == 10
        with pytest.raises(InputNotFound, match="^ref: s3a://secured/b.bam does not exist"):
            check_inputs({"ref": "s3a://secured/b.bam"}, make_config(server.endpoint))

    @pytest.mark.parametrize("who", ["unknown key", "wrong secret", "no permission"])
    def test_bad_credentials_are_permission_errors(self, auth_server, monkeypatch, who):
        server, keys = auth_server
        if who == "unknown key":
            self._use(monkeypatch, "AKIAUNKNOWNKEY000000", "whatever")
        elif who == "wrong secret":
            self._use(monkeypatch, keys["reader"]["AccessKeyId"], "not-the-secret")
        else:
            self._use(monkeypatch, keys["nobody"]["AccessKeyId"], keys["nobody"]["SecretAccessKey"])
        with pytest.raises(InputPermissionDenied) as info:
            check_inputs({"control_inputs": ["s3a://secured/a.bam"]}, make_config(server.endpoint))
        msg = str(info.value)
        assert msg.startswith("control_inputs[0]: cannot read s3a://secured/a.bam: access denied")
        assert "credentials" in msg
        assert info.value.code == "DLI.0011" and info.value.http_status == 400


def test_output_dir_bucket_must_exist(config, bucket):
    assert check_output_dir(f"s3a://{bucket}/results/", config).bucket == bucket
    assert check_output_dir(f"s3a://{bucket}", config).key == ""  # a bucket root is a folder too
    with pytest.raises(InputNotFound) as info:
        check_output_dir("s3a://no-such-results-bucket/out/", config)
    msg = str(info.value)
    assert msg.startswith("output_dir: bucket 'no-such-results-bucket' does not exist")
    assert "s3a://no-such-results-bucket/out/" in msg and info.value.http_status == 400


def test_output_dir_without_credentials(monkeypatch, config, bucket):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(InputPermissionDenied,
                       match=rf"^output_dir: cannot deliver to s3a://{bucket}/results/: no usable credentials"):
        check_output_dir(f"s3a://{bucket}/results/", config)


def test_output_dir_local_folder(tmp_path, config):
    (tmp_path / "file").write_text("x")
    assert check_output_dir(str(tmp_path / "new" / "deeper"), config).path == str(tmp_path / "new" / "deeper")
    assert check_output_dir(f"file://{tmp_path}", config).path == str(tmp_path)
    with pytest.raises(InvalidRequest, match=r"^output_dir: .*/file is a file, not a folder"):
        check_output_dir(str(tmp_path / "file"), config)
    with pytest.raises(InvalidRequest, match=r"^output_dir: .*/file/out cannot be created: .*/file is a file"):
        check_output_dir(str(tmp_path / "file" / "out"), config)
    with pytest.raises(InvalidRequest, match=r"^output_dir: .*unsupported scheme hdfs://"):
        check_output_dir("hdfs://nn/out", config)
    assert not (tmp_path / "new").exists()  # checking creates nothing
