"""Delivering results to output_dir/<instance_id>/... on a real endpoint, or a local folder."""

import boto3
import botocore.exceptions
import pytest
from s3_endpoint import MiB, make_config, random_bytes

from localgene.errors import DeliveryError, InvalidRequest
from localgene.storage import deliver_files, deliver_results

INSTANCE = "5c7c1ab5-37a2-4a4e-9a6b-0f7d0c1b2a11"


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "job" / "results"
    files = {
        "reference.cnn": b"ref",
        "samples/Son.cnr": b"cnr" * 100,
        "samples/Son.call.cns": b"cns",
        "plots/Son-scatter.png": b"\x89PNG",
        "big/coverage.cnn": random_bytes(20 * MiB),  # multipart upload
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root, files


def _snapshot(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_deliver_to_s3a_lists_every_file(results, s3, bucket, config):
    root, files = results
    delivered = deliver_results(root, f"s3a://{bucket}/cnvkit/output/", INSTANCE, config)
    prefix = f"cnvkit/output/{INSTANCE}/"
    assert delivered == [f"s3a://{bucket}/{prefix}{rel}" for rel in sorted(files)]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert {o["Key"][len(prefix):]: o["Size"] for o in listed} == {
        rel: len(data) for rel, data in files.items()}
    body = s3.get_object(Bucket=bucket, Key=prefix + "big/coverage.cnn")["Body"].read()
    assert body == files["big/coverage.cnn"]
    assert _snapshot(root) == files  # local results untouched


def test_deliver_to_bucket_root_and_s3_scheme(results, s3, bucket, config):
    root, files = results
    delivered = deliver_results(root, f"s3://{bucket}", INSTANCE, config)
    assert delivered[0] == f"s3://{bucket}/{INSTANCE}/big/coverage.cnn"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == len(files)


def test_deliver_to_local_folder(results, tmp_path, config):
    root, files = results
    out = tmp_path / "out"
    delivered = deliver_results(root, f"file://{out}", INSTANCE, config)
    assert delivered == [str(out / INSTANCE / rel) for rel in sorted(files)]
    assert _snapshot(out / INSTANCE) == files
    assert not [p for p in out.rglob("*.part")]
    # delivering again replaces files atomically
    deliver_results(root, str(out), INSTANCE, config)
    assert _snapshot(out / INSTANCE) == files


def test_local_delivery_failure(results, tmp_path, config):
    root, files = results
    blocker = tmp_path / "out"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(DeliveryError, match=r"^cannot copy .* to .*out/"):
        deliver_results(root, str(blocker), INSTANCE, config)
    assert _snapshot(root) == files


def test_missing_bucket_fails_delivery_and_keeps_results(results, s3, bucket, config):
    root, files = results
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(DeliveryError) as info:
        deliver_results(root, f"s3a://{bucket}/out", INSTANCE, config)
    msg = str(info.value)
    assert f"to s3a://{bucket}/out/{INSTANCE}/" in msg
    assert f"bucket '{bucket}' does not exist" in msg
    assert info.value.http_status == 502
    assert _snapshot(root) == files


def test_server_stopped_fails_delivery_and_keeps_results(results, moto_process, tmp_path):
    root, files = results
    server = moto_process()
    boto3.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket="genes")
    server.kill()
    with pytest.raises(DeliveryError) as info:
        deliver_results(root, "s3a://genes/out/", INSTANCE,
                        make_config(server.endpoint, delivery_attempts=2))
    msg = str(info.value)
    assert "to s3a://genes/out/" in msg and "cannot reach the object store" in msg
    assert server.endpoint in msg and "after 2 attempts" in msg
    assert _snapshot(root) == files


def test_transient_failures_are_retried(results, s3, bucket, config):
    root, files = results
    client = boto3.client("s3", endpoint_url=config.endpoint_url)
    failures = {"left": 3}  # more than botocore's own attempts (2 in these tests)

    def flaky(request, **kwargs):
        if request.url.endswith("/reference.cnn") and failures["left"]:
            failures["left"] -= 1
            raise botocore.exceptions.EndpointConnectionError(endpoint_url=request.url)

    client.meta.events.register("before-send.s3.PutObject", flaky)
    deliver_results(root, f"s3a://{bucket}/o", INSTANCE, config, client=client)
    assert failures["left"] == 0
    got = s3.get_object(Bucket=bucket, Key=f"o/{INSTANCE}/reference.cnn")["Body"].read()
    assert got == b"ref"


def test_bad_arguments(results, config):
    root, _ = results
    with pytest.raises(InvalidRequest, match="^output_dir: .*unsupported scheme hdfs://"):
        deliver_results(root, "hdfs://nn/out", INSTANCE, config)
    with pytest.raises(InvalidRequest, match="^instance_id: "):
        deliver_results(root, "/tmp/out", "../escape", config)
    with pytest.raises(DeliveryError, match="is not a folder"):
        deliver_results(root / "absent", "/tmp/out", INSTANCE, config)


def test_deliver_files_to_named_paths_local_and_s3(results, s3, bucket, config, tmp_path):
    """A pipeline's results go to the paths its fields name (output VCF, bam_output)."""
    root, files = results
    pairs = [(root / "reference.cnn", str(tmp_path / "named" / "calls.vcf.gz")),
             (root / "samples/Son.cnr", f"s3a://{bucket}/dna/sample.bam")]  # fmt: skip
    delivered = deliver_files(pairs, config)
    assert delivered == [str(tmp_path / "named" / "calls.vcf.gz"), f"s3a://{bucket}/dna/sample.bam"]
    assert (tmp_path / "named" / "calls.vcf.gz").read_bytes() == files["reference.cnn"]
    assert s3.get_object(Bucket=bucket, Key="dna/sample.bam")["Body"].read() == files["samples/Son.cnr"]
    with pytest.raises(DeliveryError, match="is not a file"):
        deliver_files([(root / "missing", str(tmp_path / "x"))], config)
    with pytest.raises(InvalidRequest, match="^output: "):
        deliver_files([(root / "reference.cnn", "ftp://host/x")], config)
