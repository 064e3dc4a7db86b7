"""The one exception tree of localgene.

Every error a user can cause or meet is a :class:`LocalgeneError` carrying a message written
for that user, the service's error code (``DLI.xxxx``) and the HTTP status that the API maps it
to. The CLI prints ``str(error)`` on one line; the HTTP API returns
``{"error_code": e.code, "error_msg": str(e)}`` with ``e.http_status``. Nothing else is ever shown
to a user: a bare traceback is a bug.
"""

from __future__ import annotations


class LocalgeneError(Exception):
    """Base class. ``str(e)`` is the user-facing message."""

    code = "DLI.0999"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)

    @property
    def message(self) -> str:
        return str(self)


class InvalidRequest(LocalgeneError):
    """The request is malformed or a field is invalid (names the field)."""

    code = "DLI.0001"
    http_status = 400


class UnsupportedOption(InvalidRequest):
    """An option or operation that localgene or CNVkit cannot take."""

    code = "DLI.0007"


class InputNotFound(InvalidRequest):
    """A referenced object (input file, bucket, reference name) does not exist."""

    code = "DLI.0002"


class LimitExceeded(InvalidRequest):
    """A system limit (too many inputs, body too large)."""

    code = "DLI.0009"


class BodyTooLarge(LimitExceeded):
    """The request body is larger than the server takes (HTTP 413, the limit's code)."""

    http_status = 413


class InputPermissionDenied(InvalidRequest):
    """No permission on a file or bucket."""

    code = "DLI.0011"


class PathNotAllowed(LocalgeneError):
    """A multi-user server's job body names a local path outside the administrator's data roots,
    or inside a place no job may reach (localgene.api.data_roots)."""

    code = "DLI.0012"
    http_status = 403


class AuthenticationError(LocalgeneError):
    """Missing or invalid credentials."""

    code = "DLI.0013"
    http_status = 401


class AccessDenied(LocalgeneError):
    """The caller may not see or act on this project or job."""

    code = "DLI.0403"
    http_status = 403


class JobNotFound(LocalgeneError):
    code = "DLI.0023"
    http_status = 404


class StateConflict(LocalgeneError):
    """The job's state forbids the action (e.g. cancelling a FINISHED job)."""

    code = "DLI.0409"
    http_status = 409


class EnvironmentProblem(LocalgeneError):
    """This machine lacks something a job needs (R, DNAcopy, a tool); says what to install."""

    code = "DLI.0007"
    http_status = 400


class WorkflowFailed(LocalgeneError):
    """A workflow step failed; the message names the step and the tail of its log."""

    code = "DLI.0999"
    http_status = 500


class StorageError(LocalgeneError):
    """The object store could not be reached, or a transfer or the local cache failed.

    The message names the path and the cause (endpoint unreachable, connection lost, bad TLS,
    checksum mismatch, disk full). Not the caller's fault, so not a 4xx.
    """

    code = "DLI.0502"
    http_status = 502


class DeliveryError(StorageError):
    """Results could not be delivered to ``output_dir``; names the destination and the cause."""
