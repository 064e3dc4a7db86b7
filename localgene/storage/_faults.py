"""Turning boto3/botocore/s3transfer exceptions into words a user can act on (internal)."""

from __future__ import annotations

import botocore.exceptions as bx

AUTH_CODES = {
    "403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AccountProblem", "AllAccessDisabled",
    "InvalidSecurity", "AuthorizationHeaderMalformed",
}
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
NO_BUCKET_CODES = {"NoSuchBucket"}
TRANSIENT_CODES = {
    "500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown", "Throttling",
    "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed", "BadDigest",
    "XAmzContentSHA256Mismatch", "IncompleteBody",
}
CONNECTION_ERRORS = (
    bx.EndpointConnectionError,
    bx.ConnectionClosedError,
    bx.ConnectTimeoutError,
    bx.ReadTimeoutError,
    bx.ProxyConnectionError,
    bx.HTTPClientError,
    bx.IncompleteReadError,
    bx.ResponseStreamingError,
    ConnectionError,
    TimeoutError,
)
CREDENTIAL_ERRORS = (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, bx.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "") or "")
    return ""


def http_status(exc: BaseException) -> int | None:
    if isinstance(exc, bx.ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def unwrap(exc: BaseException) -> BaseException:
    """s3transfer wraps the last error in RetriesExceededError; find the botocore one."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        last = getattr(exc, "last_exception", None)
        if isinstance(last, BaseException):
            exc = last
            continue
        cause = exc.__cause__ or exc.__context__
        if cause is not None and not isinstance(exc, (bx.BotoCoreError, bx.ClientError)):
            exc = cause
            continue
        break
    return exc


def is_auth(exc: BaseException) -> bool:
    exc = unwrap(exc)
    return isinstance(exc, CREDENTIAL_ERRORS) or error_code(exc) in AUTH_CODES or http_status(exc) == 403


def is_connection(exc: BaseException) -> bool:
    exc = unwrap(exc)
    return isinstance(exc, CONNECTION_ERRORS) and not isinstance(exc, bx.SSLError)


def is_transient(exc: BaseException) -> bool:
    exc = unwrap(exc)
    if is_connection(exc):
        return True
    status = http_status(exc)
    return error_code(exc) in TRANSIENT_CODES or (status is not None and status >= 500)


def describe(exc: BaseException, endpoint: str | None = None) -> str:
    """One line saying what went wrong, without a traceback."""
    exc = unwrap(exc)
    where = f" at {endpoint}" if endpoint else ""
    if isinstance(exc, bx.SSLError):
        return (f"TLS verification failed{where} ({exc}); set LOCALGENE_S3_VERIFY to a CA bundle "
                f"path, or to false for a test endpoint")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ProxyConnectionError)):
        return f"cannot reach the object store{where} ({exc})"
    if isinstance(exc, CONNECTION_ERRORS):
        return f"the connection to the object store{where} was lost ({type(exc).__name__}: {exc})"
    if isinstance(exc, CREDENTIAL_ERRORS):
        return (f"no usable credentials ({exc}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                f"or AWS_PROFILE")
    if isinstance(exc, bx.ClientError):
        code, status = error_code(exc), http_status(exc)
        msg = exc.response.get("Error", {}).get("Message") or ""
        if code in AUTH_CODES or status == 403:
            detail = f"{code}: {msg}" if msg and code != "403" else f"HTTP {status}"
            return (f"access denied ({detail}); check the credentials (AWS_ACCESS_KEY_ID / "
                    f"AWS_PROFILE) and the bucket's policy")
        return f"{code or 'error'} (HTTP {status}){': ' + msg if msg else ''}"
    return f"{type(exc).__name__}: {exc}"
