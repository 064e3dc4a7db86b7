"""The one mapping from failures to the spec's error body ``{"error_code", "error_msg"}``.

* every :class:`~localgene.errors.LocalgeneError` → its ``http_status`` with its ``code`` and
  its one-line message (the field path first);
* FastAPI's request validation errors → 400 ``DLI.0001`` naming the parameter; for a query
  string (the routes' :mod:`localgene.api.query` models), the message the query checks give,
  and for a name the route's model does not declare, "unknown query parameter ..." listing the
  names it takes;
* routing errors: an unknown URL → 404 ``DLI.0404``, a method the URL does not take → 405
  ``DLI.0405``;
* anything else is a bug: 500 ``DLI.0999`` with a request id, and the traceback goes to the
  server log under that id — never to the client.

Every response carries ``X-Request-Id`` (:class:`RequestIdMiddleware`), which is also the id
the log names.
"""

from __future__ import annotations

import difflib
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localgene.api.query import MESSAGE_ERROR, QueryModel, show
from localgene.errors import LocalgeneError

log = logging.getLogger("localgene.api")

REQUEST_ID_HEADER = "X-Request-Id"
INTERNAL_CODE = "DLI.0999"
NOT_FOUND_CODE = "DLI.0404"
METHOD_CODE = "DLI.0405"
BAD_REQUEST_CODE = "DLI.0001"


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error_code": code, "error_msg": message}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def request_id(request: Request | Scope) -> str:
    scope = request.scope if isinstance(request, Request) else request
    return scope.get("state", {}).get("request_id", "-")


def _localgene_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LocalgeneError)
    status = int(getattr(exc, "http_status", 500))
    if status >= 500:
        log.error("request %s: %s %s failed: %s: %s", request_id(request), request.method,
                  request.url.path, type(exc).__name__, exc)
    headers = {"WWW-Authenticate": 'ApiKey header="X-Auth-Token"'} if status == 401 else None
    return error_response(status, exc.code, str(exc), headers)


def _loc_name(loc: tuple[Any, ...]) -> str:
    where = loc[0] if loc else ""
    name = ".".join(str(p) for p in loc[1:]) or str(where)
    return name


def _query_model(dependant: Any) -> type[QueryModel] | None:
    """The query model a route (or one of its dependencies) reads."""
    for param in getattr(dependant, "query_params", ()):
        annotation = getattr(param.field_info, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, QueryModel):
            return annotation
    for sub in getattr(dependant, "dependencies", ()):
        found = _query_model(sub)
        if found is not None:
            return found
    return None


def _query_message(request: Request, errors: list[dict[str, Any]]) -> str:
    """The message of a refused query: the first unknown name (with the names the route takes),
    else the first value's problem (a query is judged one parameter at a time)."""
    unknown = [e for e in errors if e.get("type") == "extra_forbidden"]
    if unknown:
        name = str(tuple(unknown[0]["loc"])[-1])
        route = request.scope.get("route")
        model = _query_model(getattr(route, "dependant", None))
        allowed = model.names() if model is not None else ()
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        takes = ", ".join(allowed) if allowed else "none"
        return f"unknown query parameter {show(name, 40)}{hint}; this endpoint takes: {takes}"
    first = errors[0]
    if first.get("type") == MESSAGE_ERROR:
        return str(first["ctx"]["message"])
    name = _loc_name(tuple(first.get("loc", ())))
    message = "is required" if first.get("type") == "missing" else str(first.get("msg", "is invalid"))
    return f"{name}: {message}"


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    query = [e for e in errors if tuple(e.get("loc", ()))[:1] == ("query",)]
    if query:
        return error_response(400, BAD_REQUEST_CODE, _query_message(request, query))
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    name = _loc_name(tuple(first.get("loc", ())))
    message = str(first.get("msg", "is invalid"))
    if first.get("type") == "missing":
        message = "is required"
    more = len(errors) - 1
    if more > 0:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error_response(400, BAD_REQUEST_CODE, f"{name}: {message}" if name else message)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return error_response(404, NOT_FOUND_CODE, f"no such endpoint: {request.method} {request.url.path}")
    if exc.status_code == 405:
        allowed = _allowed_methods(request) or headers.get("Allow") or headers.get("allow") or ""
        headers["Allow"] = allowed
        return error_response(405, METHOD_CODE,
                              f"{request.method} is not allowed on {request.url.path}"
                              + (f"; allowed: {allowed}" if allowed else ""), headers)
    code = BAD_REQUEST_CODE if exc.status_code < 500 else INTERNAL_CODE
    return error_response(exc.status_code, code, str(exc.detail), headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for regex, route_methods in getattr(request.app.state, "route_methods", ()):
        if regex.match(request.url.path):
            methods.update(route_methods)
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Register the handlers and the request-id middleware on ``app``."""
    app.add_exception_handler(LocalgeneError, _localgene_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(RequestIdMiddleware)


class RequestIdMiddleware:
    """Gives every request an id (``X-Request-Id`` on every response), and turns an exception
    that nothing handled into the 500 error body, logging its traceback with that id."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s: %s %s: internal error", rid, scope.get("method"), scope.get("path"))
            if started:  # the reply is under way: nothing better to do than cut it
                raise
            response = error_response(
                500, INTERNAL_CODE,
                f"internal error (request id {rid}); this is a bug in localgene, the server log has the details",
            )
            await response(scope, receive, send_with_id)
