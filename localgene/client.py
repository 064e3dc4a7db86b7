"""A small client of the gene job API (``localgene serve``, or the service it mirrors), on httpx.

Its operations are those of :mod:`localgene.jobs.service`, over HTTP; it is also the remote
:class:`localgene.jobs.interface.JobService` the job commands use with ``--server``. A failed call raises the
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
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from localgene import errors as E
from localgene.errors import LocalgeneError
from localgene.jobs.interface import Listing, Submitted

if TYPE_CHECKING:
    import httpx

    from localgene.jobs.samplesheet import BatchItem

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
        import httpx  # here, not at import: every `localgene` command imports this module

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
        import httpx

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

    # -- the job service (localgene.jobs.interface.JobService) over the API ---------------------------

    def submit(self, items: Sequence[BatchItem], *, base_name: str | None = None) -> Iterator[Submitted]:
        """One request per job, in order; a refusal stops the batch but does not withdraw the
        jobs already accepted (yielded first). A CNVkit job's warnings are read back from it."""
        for item in items:
            body = item.body
            if "job_type" in body:
                yield Submitted(self.submit_pipeline(body))
                continue
            instance_id = self.submit_cnvkit(body)
            yield Submitted(instance_id, list(self.get_cnvkit(instance_id).get("warnings", [])))

    def listing(self, *, job_type: str | None = None, instance_id: str | None = None,
                ids: Sequence[str] | None = None, paging: Mapping[str, str] | None = None) -> Listing:
        """The API's listing (``ids``: one request per id, CNVkit jobs only: the API filters on
        one id)."""
        paging = dict(paging or {})
        body: dict[str, Any]
        items: list[dict[str, Any]]
        if ids is not None:
            if job_type:
                raise E.InvalidRequest("--ids with --server lists CNVkit jobs only", field="--job-type")
            items = [i for one in ids for i in self.list_cnvkit(instance_id=one)["instances"]]
            body = {"count": len(items), "instances": items}
            total, key = len(items), "instance_id"
        elif job_type:
            body = self.list_pipeline(job_type=job_type, **paging)
            items, total, key = body["jobs"], int(body["job_count"]), "job_id"
        else:
            body = self.list_cnvkit(instance_id=instance_id, **paging)
            items, total, key = body["instances"], int(body["count"]), "instance_id"
        rows = [(i[key], i["status"], i.get("progress", "-"), i["duration"], i["owner"]) for i in items]
        return Listing(body, rows, total)

    def _kind(self, job_id: str) -> tuple[str, dict[str, Any]]:
        """``("cnvkit" or "pipeline", the job's item)``: the API keeps the two kinds apart, so a
        job unknown as a CNVkit job is looked up as a pipeline job."""
        try:
            return "cnvkit", self.get_cnvkit(job_id)
        except E.JobNotFound:
            return "pipeline", self.get_job(job_id)

    def show(self, job_id: str) -> dict[str, Any]:
        return self._kind(job_id)[1]

    def cancel(self, job_id: str) -> tuple[str, str]:
        kind, _ = self._kind(job_id)
        (self.cancel_cnvkit if kind == "cnvkit" else self.cancel_job)(job_id)
        return job_id, self._kind(job_id)[1]["status"]

    def retry(self, job_id: str) -> tuple[str, str]:
        kind, _ = self._kind(job_id)
        if kind == "cnvkit":
            self.retry_cnvkit(job_id)
            return job_id, self.get_cnvkit(job_id)["status"]
        self.retry_job(job_id)
        return job_id, self.get_job(job_id)["status"]

    def log(self, job_id: str, *, step: str | None = None, tail: int | None = None) -> str:
        kind, _ = self._kind(job_id)
        return (self.log_cnvkit if kind == "cnvkit" else self.log_job)(job_id, step=step, tail=tail)["log"]
