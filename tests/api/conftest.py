"""Fixtures of the HTTP API tests: a store in a tmp LOCALGENE_HOME, a users file with two tenants,
the application behind FastAPI's TestClient (or on uvicorn in a thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from api_helpers import USERS, Env, LiveServer, make_inputs
from fastapi.testclient import TestClient

from localgene import settings as settings_mod
from localgene.api import users as users_mod
from localgene.api.app import ApiSettings, create_app


@pytest.fixture
def env(tmp_path: Path) -> Env:
    home = tmp_path / "home"
    cfg = settings_mod.load({"LOCALGENE_HOME": str(home)}).ensure_dirs()
    users_path = home / "users.yaml"
    tokens = {}
    for name, tenant, role, projects in USERS:
        _, tokens[name] = users_mod.add_user(users_path, name, tenant=tenant, role=role, projects=projects)
    return Env(home, cfg, users_path, tokens, make_inputs(tmp_path / "inputs"))


@pytest.fixture
def app(env: Env):
    # Data root "/": any path but the places no job may reach ($LOCALGENE_HOME, the users file,
    # /proc), so these tests see the checks behind the roots; test_api_data_roots.py narrows them.
    return create_app(ApiSettings(env.cfg, users_path=env.users_path, data_roots=(Path("/"),)))


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def live(app) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
