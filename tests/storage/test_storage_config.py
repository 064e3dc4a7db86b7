"""Client configuration: LOCALGENE_S3_* settings, and boto3's own variables really honoured."""

import pytest

from localgene.errors import InvalidRequest, StorageError
from localgene.storage import S3Config, make_client


def test_from_env_reads_localgene_variables(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "LOCALGENE_S3_ENDPOINT_URL": "https://obs.example.com",
        "LOCALGENE_S3_REGION": "cn-north-4",
        "LOCALGENE_S3_ADDRESSING_STYLE": "Virtual",
        "LOCALGENE_S3_VERIFY": str(bundle),
    }
    cfg = S3Config.from_env(env)
    assert (cfg.endpoint_url, cfg.region, cfg.addressing_style, cfg.verify) == (
        "https://obs.example.com", "cn-north-4", "virtual", str(bundle))
    assert S3Config.from_env({"LOCALGENE_S3_VERIFY": "false"}).verify is False
    assert S3Config.from_env({"LOCALGENE_S3_VERIFY": "TRUE"}).verify is True
    assert S3Config.from_env({"LOCALGENE_S3_ENDPOINT_URL": ""}).endpoint_url is None
    assert S3Config.from_env({}, max_attempts=7).max_attempts == 7


@pytest.mark.parametrize("env,field", [
    ({"LOCALGENE_S3_ADDRESSING_STYLE": "dns"}, "LOCALGENE_S3_ADDRESSING_STYLE"),
    ({"LOCALGENE_S3_ENDPOINT_URL": "minio:9000"}, "LOCALGENE_S3_ENDPOINT_URL"),
    ({"LOCALGENE_S3_VERIFY": "/no/such/ca.pem"}, "LOCALGENE_S3_VERIFY"),
])
def test_bad_settings_name_the_variable(env, field):
    with pytest.raises(InvalidRequest, match=f"^{field}: "):
        S3Config.from_env(env)


def test_client_settings():
    client = make_client(S3Config(endpoint_url="http://127.0.0.1:9", region="eu-west-3",
                                  verify=False, max_attempts=4))
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.config.s3["addressing_style"] == "path"  # custom endpoint: path style
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.retries["total_max_attempts"] == 4
    virtual = make_client(S3Config(endpoint_url="http://127.0.0.1:9", addressing_style="virtual"))
    assert virtual.meta.config.s3["addressing_style"] == "virtual"


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
def test_boto3_endpoint_variables_are_honoured(variable, monkeypatch, s3_server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"hello")
    monkeypatch.setenv(variable, s3_server.endpoint)
    client = make_client(S3Config.from_env())
    assert client.meta.endpoint_url == s3_server.endpoint
    assert client.meta.config.s3["addressing_style"] == "path"
    assert client.head_object(Bucket=bucket, Key="a.txt")["ContentLength"] == 5


def test_localgene_endpoint_wins_over_aws_variable(monkeypatch, s3_server):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("LOCALGENE_S3_ENDPOINT_URL", s3_server.endpoint)
    assert make_client(S3Config.from_env()).meta.endpoint_url == s3_server.endpoint


def test_profile_and_max_attempts_from_aws_config(monkeypatch, tmp_path, s3_server):
    cfg = tmp_path / "aws-config"
    cfg.write_text("[profile lab]\nregion = ap-southeast-1\nmax_attempts = 6\n")
    creds = tmp_path / "aws-credentials"
    creds.write_text("[lab]\naws_access_key_id = LABKEY\naws_secret_access_key = labsecret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_PROFILE", "lab")
    client = make_client(S3Config(endpoint_url=s3_server.endpoint))
    assert client.meta.region_name == "ap-southeast-1"
    assert client.meta.config.retries["total_max_attempts"] == 6
    assert client._request_signer._credentials.access_key == "LABKEY"
    monkeypatch.setenv("AWS_PROFILE", "absent")
    with pytest.raises(StorageError, match="absent"):
        make_client(S3Config(endpoint_url=s3_server.endpoint))
