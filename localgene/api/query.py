"""The query strings of the routes, one pydantic model each (``Annotated[Model, Query()]``).

FastAPI reads the query into the model and the OpenAPI document takes its parameters from it.
Every model forbids names it does not declare (``extra="forbid"``): the one exception handler
(:mod:`localgene.api.errors`) answers those with the error body the spec promises (400
``DLI.0001`` "unknown query parameter 'x' (did you mean ...?); this endpoint takes: ...").
A value's problem is reported with the message the store's and the routes' checks have always
given (:func:`localgene.store.parse_paging` is the one source of the paging rules): a validator
turns the :class:`~localgene.errors.InvalidRequest` into a validation error carrying that
message verbatim (:data:`MESSAGE_ERROR`), which the handler replies with unchanged.

A parameter given twice is refused ("must be given once") by :func:`checked`, before the model
reads the query (FastAPI would keep the last value); when the query also holds an unknown name,
the unknown name is reported instead, as before.

This module deliberately has no ``from __future__ import annotations``: :func:`checked` builds
dependencies whose annotations must be real objects for FastAPI.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ClassVar, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from localgene.errors import InvalidRequest
from localgene.jobs import bodies as schema
from localgene.jobs.status import Status
from localgene.store import INT64_MAX, LIMIT_DEFAULT, LIMIT_MAX, LIMIT_MIN, Paging, check_paging, parse_paging

#: The pydantic error type whose ``ctx["message"]`` is the whole user-facing message.
MESSAGE_ERROR = "localgene_query"

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
STEP_LOG = re.compile(r"[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*")


def refused(exc: InvalidRequest) -> PydanticCustomError:
    """``exc`` as a validation error whose message the handler replies with verbatim."""
    return PydanticCustomError(MESSAGE_ERROR, "{message}", {"message": str(exc)})


def show(value: str, width: int = 60) -> str:
    """A value quoted for a message, cut at ``width`` characters."""
    return repr(value if len(value) <= width else value[:width] + "…")


def _paging_value(name: str) -> BeforeValidator:
    def check(raw: Any) -> Any:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw  # a default
        try:
            return getattr(parse_paging({name: raw}), name)
        except InvalidRequest as exc:
            raise refused(exc) from None
    return BeforeValidator(check)


def _bounded_int(name: str, lo: int, hi: int) -> BeforeValidator:
    def check(raw: Any) -> Any:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{1,19}", raw) or not lo <= int(raw) <= hi:
            raise refused(InvalidRequest(f"must be an integer from {lo} to {hi}, got {show(str(raw))}", field=name))
        return int(raw)
    return BeforeValidator(check)


def _one_of(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise refused(InvalidRequest(f"must be one of {', '.join(choices)}, got {show(value)}", field=name))


def _time_schema(description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "integer", "minimum": 0, "maximum": INT64_MAX, "description": description})


Limit = Annotated[int, Field(ge=LIMIT_MIN, le=LIMIT_MAX, description="records per page"), _paging_value("limit")]
Offset = Annotated[int, Field(ge=0, le=INT64_MAX, description="records to skip: limit * (page - 1)"),
                   _paging_value("offset")]
Start = Annotated[int | None, _paging_value("start"),
                  _time_schema("only jobs whose start_time is at or after this (epoch ms, inclusive)")]
End = Annotated[int | None, _paging_value("end"),
                _time_schema("only jobs whose start_time is at or before this (epoch ms, inclusive); not before start")]


class QueryModel(BaseModel):
    """A route's query: the names it declares and nothing else."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameter names as sent (aliases), in the order the error message lists them."""
        order: tuple[str, ...] = getattr(cls, "NAME_ORDER", ())
        names = tuple(f.alias or n for n, f in cls.model_fields.items())
        return tuple(sorted(names, key=lambda n: order.index(n) if n in order else len(order)))


class NoQuery(QueryModel):
    """A route that takes no query parameter."""


def _range_checked(start: int | None, end: int | None) -> None:
    try:
        check_paging(start=start, end=end)
    except InvalidRequest as exc:
        raise refused(exc) from None


class TimeRange(QueryModel):
    """``start``/``end`` (epoch ms, inclusive): statistics."""

    start: Start = None
    end: End = None

    @model_validator(mode="after")
    def _start_not_after_end(self) -> "TimeRange":
        _range_checked(self.start, self.end)
        return self


class PagingQuery(QueryModel):
    """The paging and time filters of every listing, checked in this order."""

    limit: Limit = LIMIT_DEFAULT
    offset: Offset = 0
    start: Start = None
    end: End = None

    @model_validator(mode="after")
    def _start_not_after_end(self) -> "PagingQuery":
        _range_checked(self.start, self.end)
        return self

    def paging(self) -> Paging:
        return check_paging(self.limit, self.offset, self.start, self.end)


class CnvkitListQuery(PagingQuery):
    """``GET /v2.0/{project_id}/gene/tools/cnvkit``: paging, then ``instance-id``."""

    instance_id: Annotated[str | None, Field(alias="instance-id"), WithJsonSchema({
        "type": "string", "format": "uuid", "description": "only this job (note the hyphen)"})] = None
    NAME_ORDER: ClassVar[tuple[str, ...]] = ("instance-id", "limit", "offset", "start", "end")

    @model_validator(mode="after")
    def _instance_id(self) -> "CnvkitListQuery":
        if self.instance_id is not None:
            if not UUID.fullmatch(self.instance_id):
                raise refused(InvalidRequest(f"must be a job id (a UUID), got {show(self.instance_id)}",
                                             field="instance-id"))
            self.instance_id = self.instance_id.lower()
        return self


class PipelineListQuery(PagingQuery):
    """``GET /v2.0/{project_id}/gene/jobs``: paging, then ``job_type``."""

    job_type: Annotated[str | None, WithJsonSchema({
        "type": "string", "enum": list(schema.PIPELINE_KINDS),
        "description": "only jobs of this pipeline (absent: all three)"})] = None
    NAME_ORDER: ClassVar[tuple[str, ...]] = ("job_type", "limit", "offset", "start", "end")

    @model_validator(mode="after")
    def _job_type(self) -> "PipelineListQuery":
        _one_of("job_type", self.job_type, schema.PIPELINE_KINDS)
        return self


class BrowserListQuery(PagingQuery):
    """The job browser's listing: paging, then ``type`` and ``status``."""

    type: str | None = None
    status: str | None = None
    NAME_ORDER: ClassVar[tuple[str, ...]] = ("type", "status", "limit", "offset", "start", "end")
    #: the ``type`` names (set by the browser's routes: CNVKIT and the pipeline kinds)
    TYPES: ClassVar[tuple[str, ...]] = ("CNVKIT", *schema.PIPELINE_KINDS)
    STATUSES: ClassVar[tuple[str, ...]] = tuple(s.value for s in Status)

    @model_validator(mode="after")
    def _filters(self) -> "BrowserListQuery":
        _one_of("type", self.type, self.TYPES)
        _one_of("status", self.status, self.STATUSES)
        return self


def _step(raw: Any) -> Any:
    if raw is not None and (not isinstance(raw, str) or len(raw) > 255 or not STEP_LOG.fullmatch(raw)
                            or any(part in (".", "..") for part in raw.split("/"))):
        raise refused(InvalidRequest("must be a relative path under the job's logs/ folder, "
                                     "e.g. segment/T1.log (letters, digits, '.', '_', '+', '-', '/')", field="step"))
    return raw


Tail = Annotated[int, Field(ge=1, le=10000, description="lines from the end"), _bounded_int("tail", 1, 10000)]


class LogQuery(QueryModel):
    """A job's log: ``tail`` lines of the Snakemake log, or of one ``step``'s log."""

    tail: Tail = 100
    step: Annotated[str | None, BeforeValidator(_step),
                    WithJsonSchema({"type": "string", "maxLength": 255, "pattern": STEP_LOG.pattern,
                                    "description": "a step's log under logs/, e.g. segment/T1.log"})] = None


class TailQuery(QueryModel):
    """The job browser's log: ``tail`` only."""

    tail: Tail = 100


M = TypeVar("M", bound=QueryModel)


def given_once(model: type[QueryModel]) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing a parameter of ``model`` given more than once (400 naming it).
    Unknown names are left to the model (they are reported first)."""
    names = model.names()

    async def check(request: Request) -> None:  # async: no I/O, so no thread hop
        sent = [name for name, _ in request.query_params.multi_items()]
        if any(name not in names for name in sent):
            return
        for name in names:
            if sent.count(name) > 1:
                raise InvalidRequest("must be given once", field=name)

    return check


def checked(model: type[M]) -> Any:
    """``Depends(...)`` giving the route its query as a ``model`` (see the module's doc)."""

    async def parsed(params: Annotated[model, Query()], _: Annotated[None, Depends(given_once(model))]) -> Any:  # type: ignore[valid-type]  # FastAPI reads this annotation at run time; mypy cannot use a variable
        return params

    return Depends(parsed)
