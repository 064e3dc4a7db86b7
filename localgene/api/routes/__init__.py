"""The API's routes, one module per resource group."""

from __future__ import annotations

from typing import Any

from localgene.api.models import ErrorBody

_WHY = {
    400: "a malformed or invalid request (DLI.0001, names the field), a missing input (DLI.0002), "
    "an option CNVkit cannot take (DLI.0007), a limit (DLI.0009), a path the server may not use (DLI.0011)",
    401: "no X-Auth-Token, or one that no user has (DLI.0013)",
    403: "the project, or the job (another project's, or another user's), is not the caller's (DLI.0403); "
    "a local path outside the server's data roots (DLI.0012)",
    404: "no such job (DLI.0023)",
    409: "the job's state forbids the action, e.g. cancelling a FINISHED job or retrying a RUNNING one "
    "(DLI.0409)",
    413: "the request body is larger than 1 MiB (DLI.0009)",
    500: "a bug in localgene (DLI.0999); the message carries the request id the server log names",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entries of the error statuses a route can answer with."""
    return {s: {"model": ErrorBody, "description": _WHY[s]} for s in (*statuses, 500)}
