"""The FastAPI application: :func:`create_app`.

The server only records and reads jobs (through :mod:`localgene.jobs.service` and the store); it never
runs a workflow. ``localgene worker`` runs what it records.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from localgene import __version__
from localgene import settings as settings_mod
from localgene.api import data_roots as data_roots_mod
from localgene.api import errors as api_errors
from localgene.api.deps import ApiState
from localgene.api.routes import cnvkit, jobs, meta, statistics, ui
from localgene.api.users import Caller, UsersFile, single_local_user
from localgene.errors import InvalidRequest
from localgene.jobs import bodies as schema_mod
from localgene.store import Store

log = logging.getLogger("localgene.api")

DESCRIPTION = """\
The gene job service's API, served by localgene: CNVkit jobs run locally with Snakemake and the
real CNVkit (`localgene worker` runs them; this server records and reads them).

Every call except `/health` carries `X-Auth-Token` (the token `localgene users add` printed),
unless the server runs without a users file (loopback only, one local user). Every failure
answers `{"error_code": "DLI.xxxx", "error_msg": "..."}`; see `docs/api.md` for the codes.
Times are epoch milliseconds, `duration` is in seconds.
"""


@dataclass(frozen=True)
class ApiSettings:
    """How to build the application.

    ``users_path``: the users file; ``None`` runs as the single local user ``local_user``
    (default: the login name), administrator of every project. ``allowed_paths``: when not
    empty, local paths in job bodies must lie inside one of these folders. With a users file,
    ``data_roots`` (every project) and ``project_roots`` (one project each) are the only folders
    job bodies may name, ``allowed_paths`` counting as data roots (403 ``DLI.0012`` outside;
    localgene.api.data_roots).
    """

    core: settings_mod.Settings
    users_path: Path | None = None
    local_user: str | None = None
    allowed_paths: tuple[Path, ...] = ()
    data_roots: tuple[Path, ...] = ()
    project_roots: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    max_body_bytes: int = schema_mod.MAX_BODY_BYTES
    extras: dict[str, Any] = field(default_factory=dict)


def _component_schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [schema_mod.CnvkitBody, *schema_mod.PIPELINE_MODELS.values()]
    _, defs = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}")
    return defs.get("$defs", {})


def create_app(settings: ApiSettings | settings_mod.Settings | None = None) -> FastAPI:
    """The API application over the store of ``settings`` (default: the environment's
    settings, single local user)."""
    if settings is None:
        settings = ApiSettings(settings_mod.load())
    elif isinstance(settings, settings_mod.Settings):
        settings = ApiSettings(settings)
    users: UsersFile | None = None
    local: Caller | None = None
    if settings.users_path is not None:
        users = UsersFile(settings.users_path)
        users.users()  # a broken users file stops the server here, with its message
    else:
        local = single_local_user(settings.local_user)
    allowed = tuple(Path(os.path.realpath(p)) for p in settings.allowed_paths)
    for path in allowed:
        if not path.is_dir():
            raise InvalidRequest(f"{path} is not a folder", field="--allow-path")
    roots = None
    if users is not None:
        server_roots, project_roots = data_roots_mod.parse_root_specs(
            [*map(str, allowed), *map(str, settings.data_roots),
             *(f"{p}={r}" for p, rs in settings.project_roots.items() for r in rs)])
        roots = data_roots_mod.DataRoots(settings.core.home, settings.users_path, server_roots, project_roots)
    state = ApiState(
        cfg=settings.core,
        store=Store.open(settings.core),
        users=users,
        local_user=local,
        allowed_paths=allowed,
        data_roots=roots,
        max_body_bytes=settings.max_body_bytes,
        version=__version__,
        extras=dict(settings.extras),
    )

    app = FastAPI(
        title="localgene gene job API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "CNVkit jobs", "description": "CNVkit copy-number jobs, run by `localgene worker`"},
            {"name": "Pipeline jobs", "description": "checked in full, not yet run by localgene"},
            {"name": "Statistics"},
            {"name": "Service"},
        ],
    )
    app.state.api = state
    api_errors.install(app)
    app.state.route_methods = []  # (path regex, methods): the Allow header of a 405
    for module in (cnvkit, jobs, statistics, meta, ui):
        app.include_router(module.router)
        app.state.route_methods += [(r.path_regex, frozenset(r.methods)) for r in module.router.routes]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes, tags=app.openapi_tags)
            doc.setdefault("components", {}).setdefault("schemas", {}).update(_component_schemas())
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the OpenAPI document
    return app
