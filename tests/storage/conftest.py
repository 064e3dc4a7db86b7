"""Fixtures of the storage tests: moto's server mode on a free loopback port (see s3_endpoint)."""

from __future__ import annotations

import os
import uuid

import boto3
import pytest
from s3_endpoint import ProcessServer, ThreadServer, make_config

from localgene.storage import S3Config


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    """Fake credentials; nothing from the developer's ~/.aws or shell leaks in."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "LOCALGENE_S3_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def s3_server():
    server = ThreadServer()
    yield server
    server.stop()


@pytest.fixture
def moto_process(tmp_path):
    started: list[ProcessServer] = []

    def start(env: dict[str, str] | None = None) -> ProcessServer:
        server = ProcessServer(tmp_path, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def config(s3_server) -> S3Config:
    return make_config(s3_server.endpoint)


@pytest.fixture
def s3(s3_server):
    return boto3.client("s3", endpoint_url=s3_server.endpoint)


@pytest.fixture
def bucket(s3) -> str:
    name = f"lg-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


