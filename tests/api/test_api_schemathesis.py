"""Schemathesis against the served OpenAPI document: generated requests (valid and invalid per the
document) never get a 500, and every reply matches the documented status codes, content type
and response schema. Bounded: a few examples per operation, derandomized, well under a minute."""

from __future__ import annotations

import pytest
import schemathesis
from api_helpers import USERS, Env, make_inputs
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from localgene import settings as settings_mod
from localgene.api import users as users_mod
from localgene.api.app import ApiSettings, create_app
from localgene.jobs.bodies import new_record

#: Examples per operation, generation mode and project choice.
EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One application for the whole module (with jobs in it), and alice's token."""
    root = tmp_path_factory.mktemp("schemathesis")
    cfg = settings_mod.load({"LOCALGENE_HOME": str(root / "home")}).ensure_dirs()
    users_path = cfg.home / "users.yaml"
    tokens = {}
    for name, tenant, role, projects in USERS:
        _, tokens[name] = users_mod.add_user(users_path, name, tenant=tenant, role=role, projects=projects)
    env = Env(cfg.home, cfg, users_path, tokens, make_inputs(root / "inputs"))
    store = env.store()
    store.submit(new_record("p1", "alice", "cnvkit", env.body()))
    store.submit(new_record("p1", "bob", "DNA_GERMLINE", {"job_type": "DNA_GERMLINE"}))
    app = create_app(ApiSettings(cfg, users_path=users_path))
    return app, tokens["alice"]


def _operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_gets_a_500(served, mode):
    app, token = served
    operations = _operations(app)
    calls: list[int] = []
    assert len(operations) == 14  # every operation of the document is exercised
    for operation in operations:
        projects = {"project_id": "p1"} if "project_id" in operation.path_parameters else None
        for path_parameters in (projects, None):  # a project alice may use, and generated ones
            strategy = operation.as_strategy(mode, path_parameters=path_parameters)

            @given(case=strategy)
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case):
                calls.append(case.call_and_validate(headers={"X-Auth-Token": token}, checks=CHECKS).status_code)

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (e.g. /health, or only the fixed project)
                assert mode is GenerationMode.NEGATIVE
    statuses = set(calls)
    assert len(calls) > 100 and 500 not in statuses
    assert ({400} if mode is GenerationMode.NEGATIVE else {200, 400, 403}) <= statuses, statuses
