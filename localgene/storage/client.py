"""Building the boto3 S3 client the way boto3 users expect, plus localgene's own settings.

Credentials come from boto3's standard chain only (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
/``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` and ``~/.aws/{credentials,config}``, SSO, container and
instance roles); localgene never stores keys. The endpoint is, in order: :attr:`S3Config.endpoint_url`
(``LOCALGENE_S3_ENDPOINT_URL``), else whatever boto3 itself resolves (``AWS_ENDPOINT_URL_S3``,
``AWS_ENDPOINT_URL``, ``endpoint_url`` in the profile, else AWS).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

from localgene.errors import InvalidRequest, StorageError
from localgene.settings import Environment

MiB = 1024 * 1024
_STYLES = ("path", "virtual", "auto")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class S3Config:
    """localgene's object-storage settings; ``None`` means "boto3's own default".

    ``from_env()`` reads ``LOCALGENE_S3_ENDPOINT_URL``, ``LOCALGENE_S3_REGION``,
    ``LOCALGENE_S3_ADDRESSING_STYLE`` (path|virtual|auto) and ``LOCALGENE_S3_VERIFY`` (true, false
    or a CA bundle path). The other fields are for the settings module and tests.
    """

    endpoint_url: str | None = None
    region: str | None = None
    # None: "path" when a custom endpoint is configured (MinIO, Ceph, moto need it; OBS and AWS
    # accept it), otherwise boto3's default ("auto", or the profile's s3.addressing_style).
    addressing_style: str | None = None
    verify: bool | str | None = None  # None: boto3's default (verify, AWS_CA_BUNDLE honoured)
    profile: str | None = None  # None: AWS_PROFILE / default profile
    retry_mode: str = "standard"  # botocore retry mode
    max_attempts: int | None = None  # None: AWS_MAX_ATTEMPTS or the profile, else botocore's (3)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Transfers (boto3's transfer manager).
    multipart_threshold: int = 16 * MiB
    multipart_chunksize: int = 16 * MiB
    max_concurrency: int = 10  # parallel requests per transfer manager
    file_workers: int = 4  # files staged / checked / delivered in parallel
    # Delivery: whole-file retries on transient errors, on top of botocore's per-request ones.
    delivery_attempts: int = 3
    delivery_backoff: float = 1.0  # seconds; doubles after each failed attempt
    # Staging: whole-object download retries on transient errors (an endpoint that stops or
    # restarts mid-transfer), on top of botocore's per-request ones.
    staging_attempts: int = 3
    staging_backoff: float = 1.0  # seconds; doubles after each failed attempt

    def __post_init__(self) -> None:
        if self.addressing_style is not None and self.addressing_style not in _STYLES:
            raise InvalidRequest(
                f"{self.addressing_style!r} is not one of path, virtual, auto",
                field="LOCALGENE_S3_ADDRESSING_STYLE",
            )
        if self.endpoint_url is not None:
            parts = urlsplit(self.endpoint_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidRequest(
                    f"{self.endpoint_url!r} is not an http(s):// URL",
                    field="LOCALGENE_S3_ENDPOINT_URL",
                )
        if isinstance(self.verify, str) and not os.path.exists(self.verify):
            raise InvalidRequest(
                f"{self.verify!r} is neither true/false nor an existing CA bundle file",
                field="LOCALGENE_S3_VERIFY",
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> S3Config:
        """Settings from ``LOCALGENE_S3_*`` variables (empty means unset), then ``overrides``."""
        env = Environment.read(environ)

        def get(value: str) -> str | None:
            return value.strip() or None

        verify: bool | str | None = None
        raw = get(env.s3_verify)
        if raw is not None:
            if raw.lower() in _TRUE:
                verify = True
            elif raw.lower() in _FALSE:
                verify = False
            else:
                verify = raw
        style = get(env.s3_addressing_style)
        values: dict[str, Any] = dict(  # overrides may set any field
            endpoint_url=get(env.s3_endpoint_url),
            region=get(env.s3_region),
            addressing_style=style.lower() if style else None,
            verify=verify,
        )
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown S3Config fields: {sorted(unknown)}")
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes) -> S3Config:
        return replace(self, **changes)


def _custom_endpoint_configured(config: S3Config) -> bool:
    if config.endpoint_url:
        return True
    return bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


def make_client(config: S3Config | None = None):
    """A botocore S3 client for ``config`` (thread-safe; one per call, share it within a job)."""
    import boto3
    import botocore.config
    import botocore.exceptions

    config = config or S3Config.from_env()
    retries: dict = {"mode": config.retry_mode}
    if config.max_attempts is not None:
        retries["total_max_attempts"] = config.max_attempts
    options: dict = dict(
        retries=retries,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_pool_connections=max(10, config.max_concurrency * config.file_workers),
    )
    style = config.addressing_style
    if style is None and _custom_endpoint_configured(config):
        style = "path"
    if style is not None:
        options["s3"] = {"addressing_style": style}
    try:
        session = boto3.session.Session(profile_name=config.profile)
        kwargs: dict = dict(config=botocore.config.Config(**options))
        if config.endpoint_url:
            kwargs["endpoint_url"] = config.endpoint_url
        if config.region:
            kwargs["region_name"] = config.region
        if config.verify is not None:
            kwargs["verify"] = config.verify
        return session.client("s3", **kwargs)
    except botocore.exceptions.ProfileNotFound as exc:
        raise StorageError(f"object storage: {exc} (check AWS_PROFILE and ~/.aws/config)") from None
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        raise StorageError(f"object storage: cannot configure the S3 client: {exc}") from None


def transfer_config(config: S3Config):
    """boto3's ``TransferConfig`` for ``config``: multipart sizes and the parallel requests of
    one transfer manager (threads, the classic transfer client)."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=config.multipart_threshold,
        multipart_chunksize=config.multipart_chunksize,
        max_concurrency=config.max_concurrency,
        use_threads=True,
        preferred_transfer_client="classic",
    )


def make_transfer_manager(client, config: S3Config):
    """The transfer manager staging and delivery share within a job (``shutdown()`` it when
    done): ``client`` (:func:`make_client`) with :func:`transfer_config`."""
    from boto3.s3.transfer import create_transfer_manager

    return create_transfer_manager(client, transfer_config(config))


def endpoint_of(client) -> str:
    """The endpoint ``client`` really talks to, normalised (part of every cache key)."""
    url = client.meta.endpoint_url or ""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
