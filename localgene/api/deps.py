"""Typed dependencies of the routes: the server's state (store, settings), the caller, the
project scope and the JSON body, each checked the way the spec says (the query strings are
:mod:`localgene.api.query`'s models)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from fastapi import Depends, Request, Security
from fastapi import Path as PathParam
from fastapi.security import APIKeyHeader

from localgene import settings as settings_mod
from localgene.api.data_roots import DataRoots
from localgene.api.query import UUID, show
from localgene.api.users import PROJECT_ID, Caller, UsersFile
from localgene.errors import AccessDenied, BodyTooLarge, InputPermissionDenied, InvalidRequest, JobNotFound
from localgene.jobs.bodies import CNVKIT_PATH_FIELDS, MAX_BODY_BYTES
from localgene.storage.paths import parse_location
from localgene.store import Store

TOKEN_HEADER = "X-Auth-Token"


@dataclass
class ApiState:
    """What every request of one server shares (``app.state.api``)."""

    cfg: settings_mod.Settings
    store: Store
    users: UsersFile | None  # None: no users file, a single local user
    local_user: Caller | None
    allowed_paths: tuple[Path, ...] = ()
    #: a server with a users file: where job bodies may point (None: the single local user)
    data_roots: DataRoots | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    version: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


async def get_state(request: Request) -> ApiState:
    return request.app.state.api


token_header = APIKeyHeader(
    name=TOKEN_HEADER,
    auto_error=False,
    scheme_name="token",
    description="The token that `localgene users add` printed. A server started without a users file "
    "(loopback only) takes requests without it.",
)


async def get_caller(state: ApiState = Depends(get_state), token: str | None = Security(token_header)) -> Caller:
    """The caller of the request: the token's user, or the single local user; 401 otherwise."""
    if state.users is None:
        assert state.local_user is not None
        return state.local_user
    return state.users.authenticate(token)


@dataclass(frozen=True)
class ProjectScope:
    """One request inside ``/v2.0/{project_id}/gene``: who asks, in which project."""

    project_id: str
    caller: Caller
    state: ApiState

    @property
    def store(self) -> Store:
        return self.state.store

    @property
    def owner_filter(self) -> str | None:
        """``None`` for a tenant administrator (every user's jobs), else the caller's name."""
        return self.caller.owner_filter


async def get_scope(
    project_id: str = PathParam(description="the project every job of the request belongs to"),
    caller: Caller = Depends(get_caller),
    state: ApiState = Depends(get_state),
) -> ProjectScope:
    """The caller may use ``project_id``: 400 for a malformed id, 403 (DLI.0403) otherwise."""
    if not PROJECT_ID.fullmatch(project_id):
        raise InvalidRequest(
            f"{show(project_id)} is not a project id (1-128 letters, digits, '.', '_' or '-')",
            field="project_id",
        )
    if not caller.may_use(project_id):
        raise AccessDenied(f"user {caller.name} may not use project {project_id}")
    return ProjectScope(project_id, caller, state)


def job_id(value: str, project_id: str) -> str:
    """A job id of a URL path: a UUID (any case; stored lower-case), else 404."""
    if not UUID.fullmatch(value):
        raise JobNotFound(f"no job {show(value)} in project {project_id}")
    return value.lower()


# --------------------------------------------------------------------------------------------
# Bodies


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidRequest(f"the request body names the field {show(key, 40)} twice")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise InvalidRequest(f"the request body is not valid JSON: {name} is not a JSON number")


async def json_body(request: Request, state: ApiState = Depends(get_state)) -> Any:
    """The request body decoded from JSON. 413 (DLI.0009) past the size limit, judged from
    Content-Length and from the bytes as they arrive, before anything is parsed; 400
    (DLI.0001) for an empty body, bad UTF-8, malformed JSON, a field given twice, NaN."""
    limit = state.max_body_bytes
    too_large = f"the request body is larger than {limit} bytes, the limit"
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isascii() or not length.isdigit():
            raise InvalidRequest(f"the Content-Length header must be a byte count, got {show(length)}")
        if int(length) > limit:
            raise BodyTooLarge(f"{too_large} (Content-Length: {int(length)})")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(too_large)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequest("the request body is empty: send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the request body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidRequest("the request body is not valid JSON: it is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None


# --------------------------------------------------------------------------------------------
# Paths in CNVkit bodies

PATH_FIELDS = CNVKIT_PATH_FIELDS  # inputs, then output_dir (from the body model)


def _paths(body: dict[str, Any]) -> Iterable[tuple[str, str]]:
    for name in PATH_FIELDS:
        value = body.get(name)
        if isinstance(value, list):
            yield from ((f"{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str))
        elif isinstance(value, str) and value and not (name == "annotation_file" and not body.get("has_annotate")):
            yield name, value


def _inside(path: str, roots: tuple[Path, ...]) -> bool:
    real = os.path.realpath(path)
    return any(real == str(root) or real.startswith(str(root).rstrip("/") + "/") for root in roots)


def _pipeline_paths(body: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """The file fields of a pipeline body that hold paths (registry names are not paths)."""
    from localgene.jobs import pipeline_inputs, references

    for fld, value in pipeline_inputs.input_fields(body).items():
        if fld in pipeline_inputs.read_fields(body) or not references.is_name(value):
            yield fld, value
    for fld, value in pipeline_inputs.output_fields(body).items():
        yield fld, value


def check_server_paths(body: dict[str, Any], allowed: tuple[Path, ...], scope: "ProjectScope | None" = None) -> None:
    """Local paths sent to a server must be absolute (the server cannot know the client's
    folder), and inside ``allowed`` when the server was given ``--allow-path`` folders. A
    server with a users file (``scope.state.data_roots``) also keeps every local path of the
    body inside the project's data roots (403 DLI.0012, :mod:`localgene.api.data_roots`);
    for a pipeline body, any field, nested."""
    roots = None if scope is None else scope.state.data_roots
    _relative_and_allowed(body, allowed if roots is None else ())
    if scope is not None and roots is not None:  # (roots is None without a scope)
        pipeline = "job_type" in body
        unused = () if pipeline or body.get("has_annotate") else ("annotation_file",)  # sent, not read
        roots.check(body, project_id=scope.project_id, owner=scope.caller.name,
                    named=() if pipeline else PATH_FIELDS, unused=unused, find_job=scope.store.find)


def _relative_and_allowed(body: dict[str, Any], allowed: tuple[Path, ...]) -> None:
    paths = _pipeline_paths(body) if "job_type" in body else _paths(body)
    for fld, value in paths:
        location = parse_location(value, fld, require_key=not fld.startswith(("output_dir", "output")))
        if location.is_s3:
            continue
        if "://" not in value and not os.path.isabs(value):
            raise InvalidRequest(
                f"{show(value)} is a relative path; a server needs absolute paths "
                "(or file:///…, s3a://bucket/key)",
                field=fld,
            )
        if allowed and not _inside(location.path or "", allowed):
            raise InputPermissionDenied(
                f"{show(value)} is outside the folders this server may use "
                f"({', '.join(str(p) for p in allowed)})",
                field=fld,
            )
