"""localgene: the gene job service API, run locally with Snakemake and the real tools.

The public surface::

    from localgene import Client, JobService, LocalJobService, InvalidRequest, JobNotFound

* :class:`Client`: the gene job API of a running server (``localgene serve``), for one project;
  also a :class:`JobService`.
* :class:`JobService`: the job operations the ``localgene`` job commands use (submit, list,
  show, cancel, retry, logs, statistics); :class:`LocalJobService` implements it over the
  local store, :class:`Client` over HTTP. :class:`Submitted` and :class:`Listing` are what
  they return.
* The errors: :class:`LocalgeneError` and its tree (:mod:`localgene.errors`); each carries the
  API's ``code`` and ``http_status``, and the client raises the one a server's reply names.

``import localgene`` loads only the errors; the rest is imported when first used, so a step
that runs inside a tool environment can import ``localgene.<module>`` without the service's
dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from localgene.errors import (
    AccessDenied,
    AuthenticationError,
    BodyTooLarge,
    DeliveryError,
    EnvironmentProblem,
    InputNotFound,
    InputPermissionDenied,
    InvalidRequest,
    JobNotFound,
    LimitExceeded,
    LocalgeneError,
    PathNotAllowed,
    StateConflict,
    StorageError,
    UnsupportedOption,
    WorkflowFailed,
)

if TYPE_CHECKING:
    from localgene.client import BadReply, Client, ServerUnreachable
    from localgene.jobs.interface import JobService, Listing, LocalJobService, Submitted

__version__ = "0.1.0"

#: name -> module of the names imported on first use
_LAZY = {
    "Client": "localgene.client",
    "ServerUnreachable": "localgene.client",
    "BadReply": "localgene.client",
    "JobService": "localgene.jobs.interface",
    "LocalJobService": "localgene.jobs.interface",
    "Submitted": "localgene.jobs.interface",
    "Listing": "localgene.jobs.interface",
}

__all__ = [
    "__version__",
    "Client",
    "ServerUnreachable",
    "BadReply",
    "JobService",
    "LocalJobService",
    "Submitted",
    "Listing",
    "LocalgeneError",
    "InvalidRequest",
    "UnsupportedOption",
    "InputNotFound",
    "LimitExceeded",
    "BodyTooLarge",
    "InputPermissionDenied",
    "PathNotAllowed",
    "AuthenticationError",
    "AccessDenied",
    "JobNotFound",
    "StateConflict",
    "EnvironmentProblem",
    "WorkflowFailed",
    "StorageError",
    "DeliveryError",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'localgene' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
