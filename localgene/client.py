"""A small client of the gene job API (``localgene serve``, or the service it mirrors), on httpx.

Its operations are those of :mod:`localgene.jobs.service`, over HTTP. A failed call raises the
:mod:`localgene.errors` exception that the server's error body names (``DLI.0001`` →
:class:`~localgene.errors.InvalidRequest`, ``DLI.0023`` → :class:`~localgene.errors.JobNotFound`,
…) with the server's message, so callers handle local and remote failures alike; a server that
cannot be reached raises :class:`ServerUnreachable`.

::

    with Client("http://127.0.0.1:8080", token, project_id="demo") as api:
        job = api.submit_cnvkit(body)                  # the new instance_id
        api.list_cnvkit(instance_id=job)["instances"]
        api.statistics()
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from localgene import errors as E
from localgene.errors import LocalgeneError

ENV_SERVER = "LOCALGENE_SERVER"
ENV_TOKEN = "LOCALGENE_TOKEN"
TOKEN_HEADER = "X-Auth-Token"


class ServerUnreachable(LocalgeneError):
    """The server could not be reached, or did not answer in time."""

    code = "DLI.0503"
    http_status = 503


class BadReply(LocalgeneError):
    """The server answered something that is not the API's JSON."""

    code = "DLI.0502"
    http_status = 502


_BY_CODE: dict[str, type[LocalgeneError]] = {
    "DLI.0001": E.InvalidRequest,
    "DLI.0002": E.InputNotFound,
    "DLI.0007": E.UnsupportedOption,
    "DLI.0009": E.LimitExceeded,
    "DLI.0011": E.InputPermissionDenied,
    "DLI.0013": E.AuthenticationError,
    "DLI.0023": E.JobNotFound,
    "DLI.0403": E.AccessDenied,
    "DLI.0409": E.StateConflict,
    "DLI.0502": E.StorageError,
}


def error_from(status: int, body: Any) -> LocalgeneError:
    """The exception of an error reply (status and decoded body)."""
    if isinstance(body, dict) and isinstance(body.get("error_code"), str) and isinstance(body.get("error_msg"), str):
        code, message = body["error_code"], body["error_msg"]
    else:
        code, message = "", f"the server answered HTTP {status} without an error body"
    cls = _BY_CODE.get(code)
    if cls is E.LimitExceeded and status == 413:
        cls = E.BodyTooLarge
    if cls is None or cls.http_status != status and not issubclass(cls, E.InvalidRequest):
        # An unknown code (or one at an unexpected status): keep both as the server sent them.
        cls = type("RemoteError", (LocalgeneError,), {"code": code or "DLI.0999", "http_status": status})
    return cls(message)


class Client:
    """The gene job API of one server, for one project."""

    def __init__(self, base_url: str, token: str | None = None, *, project_id: str = "local",
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.project_id = project_id
        headers = {"Accept": "application/json"}
        if token:
            headers[TOKEN_HEADER] = token
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    # -- plumbing -----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _gene(self, *parts: str) -> str:
        return "/v2.0/" + "/".join(quote(p, safe="") for p in (self.project_id, "gene", *parts))

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: Any = None) -> Any:
        """One call; the decoded JSON reply, or the error body's exception."""
        params = {k: str(v) for k, v in (params or {}).items() if v is not None}
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            reply = self._http.request(method, path, params=params, content=content, headers=headers)
        except httpx.TimeoutException:
            raise ServerUnreachable(f"{self.base_url} did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"cannot reach {self.base_url}: {exc}") from None
        try:
            data = reply.json()
        except ValueError:
            data = None
        if reply.is_success:
            if data is None and reply.content:
                raise BadReply(f"{method} {path}: HTTP {reply.status_code} with a body that is not JSON")
            return data
        raise error_from(reply.status_code, data)

    # -- the API ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health")

    def submit_cnvkit(self, body: dict[str, Any]) -> str:
        """POST …/gene/tools/cnvkit; the new job's ``instance_id``."""
        return self.request("POST", self._gene("tools", "cnvkit"), body=body)["instance_id"]

    def list_cnvkit(self, *, instance_id: str | None = None, limit: Any = None, offset: Any = None,
                    start: Any = None, end: Any = None) -> dict[str, Any]:
        """GET …/gene/tools/cnvkit → ``{"count", "instances"}``."""
        return self.request("GET", self._gene("tools", "cnvkit"), params={
            "instance-id": instance_id, "limit": limit, "offset": offset, "start": start, "end": end})

    def get_cnvkit(self, instance_id: str) -> dict[str, Any]:
        """GET …/gene/tools/cnvkit/{id}: the listing item plus progress, warnings, input_size."""
        return self.request("GET", self._gene("tools", "cnvkit", instance_id))

    def cancel_cnvkit(self, instance_id: str) -> None:
        self.request("DELETE", self._gene("tools", "cnvkit", instance_id))

    def retry_cnvkit(self, instance_id: str) -> None:
        self.request("POST", self._gene("tools", "cnvkit", instance_id, "retry"))

    def log_cnvkit(self, instance_id: str, *, step: str | None = None, tail: int | None = None) -> dict[str, Any]:
        return self.request("GET", self._gene("tools", "cnvkit", instance_id, "log"),
                            params={"step": step, "tail": tail})

    def submit_pipeline(self, body: dict[str, Any]) -> str:
        """POST …/gene/jobs; the new ``job_id``."""
        return self.request("POST", self._gene("jobs"), body=body)["job_id"]

    def list_pipeline(self, *, job_type: str | None = None, limit: Any = None, offset: Any = None,
                      start: Any = None, end: Any = None) -> dict[str, Any]:
        return self.request("GET", self._gene("jobs"), params={
            "job_type": job_type, "limit": limit, "offset": offset, "start": start, "end": end})

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", self._gene("jobs", job_id))

    def cancel_job(self, job_id: str) -> None:
        self.request("DELETE", self._gene("jobs", job_id))

    def retry_job(self, job_id: str) -> None:
        """POST …/gene/jobs/{id}/retry (localgene extension)."""
        self.request("POST", self._gene("jobs", job_id, "retry"))

    def log_job(self, job_id: str, *, step: str | None = None, tail: int | None = None) -> dict[str, Any]:
        """GET …/gene/jobs/{id}/log (localgene extension)."""
        return self.request("GET", self._gene("jobs", job_id, "log"), params={"step": step, "tail": tail})

    def statistics(self, *, start: Any = None, end: Any = None) -> dict[str, Any]:
        return self.request("GET", self._gene("statistics"), params={"start": start, "end": end})
