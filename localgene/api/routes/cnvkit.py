"""CNVkit jobs ("tool instances"): submit, list, and localgene's extensions (one job, cancel,
retry, log)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from localgene.api import deps
from localgene.api.deps import PAGING, PAGING_PARAMETERS, TIME_PARAMETERS, ProjectScope, get_scope
from localgene.api.models import CnvkitInstanceDetail, CnvkitListing, CnvkitSubmitted, Empty, JobLog
from localgene.api.routes import errors
from localgene.errors import InvalidRequest
from localgene.jobs import bodies as schema
from localgene.jobs import service
from localgene.store import parse_paging

router = APIRouter(tags=["CNVkit jobs"])

BASE = "/v2.0/{project_id}/gene/tools/cnvkit"

SPEC_EXAMPLE = schema.SERVICE_EXAMPLE_BODY

_INSTANCE_ID_PARAM = {
    "name": "instance-id", "in": "query", "required": False,
    "description": "only this job (note the hyphen)", "schema": {"type": "string", "format": "uuid"},
}
_STEP_LOG = re.compile(r"[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*")


@router.post(
    BASE,
    status_code=201,
    summary="Submit a CNVkit job",
    description="Checks the body, every option string (with CNVkit's own parsers), this machine and "
    "the inputs, then records the job as LAUNCHING; `localgene worker` runs it. Local paths must be "
    "absolute (or file:///…). Replies 201 with the new job's `instance_id`.",
    response_model=CnvkitSubmitted,
    responses=errors(400, 401, 403, 413),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/CnvkitBody"}, "example": SPEC_EXAMPLE}}}},
)
def submit(scope: ProjectScope = Depends(get_scope), body: Any = Depends(deps.json_body)) -> JSONResponse:
    schema.parse_cnvkit_body(body)  # the body's own problems first, named by field
    deps.check_server_paths(body, scope.state.allowed_paths, scope)
    record = service.submit_cnvkit(scope.store, body, project_id=scope.project_id, owner=scope.caller.name,
                                   settings=scope.state.cfg)
    return JSONResponse(
        {"instance_id": record.instance_id},
        status_code=201,
        headers={"Location": f"/v2.0/{scope.project_id}/gene/tools/cnvkit/{record.instance_id}"},
    )


@router.get(
    BASE,
    summary="List CNVkit jobs",
    description="Newest first. `count` is every job matching the filters. A tenant administrator sees "
    "every user's jobs of the project; an ordinary user sees their own.",
    response_model=CnvkitListing,
    responses=errors(400, 401, 403),
    openapi_extra={"parameters": [_INSTANCE_ID_PARAM, *PAGING_PARAMETERS, *TIME_PARAMETERS]},
)
def list_instances(request: Request, scope: ProjectScope = Depends(get_scope)) -> JSONResponse:
    q = deps.query(request, ("instance-id", *PAGING))
    paging = parse_paging(q)
    instance_id = deps.single(q, "instance-id")
    if instance_id is not None:
        if not deps._UUID.fullmatch(instance_id):
            raise InvalidRequest(f"must be a job id (a UUID), got {deps._show(instance_id)}", field="instance-id")
        instance_id = instance_id.lower()
    listing = service.list_cnvkit(scope.store, project_id=scope.project_id, owner=scope.owner_filter,
                                  paging=paging, instance_id=instance_id)
    return JSONResponse(listing)


@router.get(
    BASE + "/{instance_id}",
    summary="One CNVkit job (localgene extension)",
    description="The listing's item for this job, plus `progress` (done/total steps), `warnings` and "
    "`input_size`.",
    response_model=CnvkitInstanceDetail,
    responses=errors(400, 401, 403, 404),
)
def get_instance(instance_id: str, request: Request, scope: ProjectScope = Depends(get_scope)) -> JSONResponse:
    deps.query(request, ())
    record = scope.store.get(scope.project_id, deps.job_id(instance_id, scope.project_id), scope.owner_filter,
                             kinds=schema.CNVKIT_KIND)
    item = schema.cnvkit_instance_item(record)
    item.update(progress=record.progress, warnings=record.warnings, input_size=record.input_size)
    return JSONResponse(item)


@router.delete(
    BASE + "/{instance_id}",
    summary="Cancel a CNVkit job (localgene extension)",
    description="A LAUNCHING or RUNNING job moves to CANCELING, then CANCELLED once its processes "
    "have stopped (a job no worker has taken yet is CANCELLED at once). Any other state: 409.",
    response_model=Empty,
    responses=errors(400, 401, 403, 404, 409),
)
def cancel(instance_id: str, request: Request, scope: ProjectScope = Depends(get_scope)) -> JSONResponse:
    deps.query(request, ())
    service.cancel(scope.store, deps.job_id(instance_id, scope.project_id), project_id=scope.project_id,
                   owner=scope.owner_filter, kinds=schema.CNVKIT_KIND)
    return JSONResponse({})


#: The query parameters of a job's log (CNVkit and pipeline jobs alike).
LOG_PARAMETERS = [
    {"name": "tail", "in": "query", "required": False, "description": "lines from the end",
     "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}},
    {"name": "step", "in": "query", "required": False,
     "description": "a step's log under logs/, e.g. segment/T1.log",
     "schema": {"type": "string", "maxLength": 255, "pattern": _STEP_LOG.pattern}},
]


@router.post(
    BASE + "/{instance_id}/retry",
    summary="Retry a FAILED or CANCELLED CNVkit job (localgene extension)",
    description="The job goes back to LAUNCHING (same `instance_id`, same `start_time`); the worker that "
    "takes it resumes it in its own folder, so the steps that had finished are not run again. Its "
    "`message` says it was retried and why it had ended. Any other state: 409.",
    response_model=Empty,
    responses=errors(400, 401, 403, 404, 409),
)
def retry(instance_id: str, request: Request, scope: ProjectScope = Depends(get_scope)) -> JSONResponse:
    deps.query(request, ())
    service.retry(scope.store, deps.job_id(instance_id, scope.project_id), project_id=scope.project_id,
                  owner=scope.owner_filter, kinds=schema.CNVKIT_KIND)
    return JSONResponse({})


@router.get(
    BASE + "/{instance_id}/log",
    summary="The tail of a CNVkit job's log (localgene extension)",
    description="The last `tail` lines (1..10000, default 100) of the job's Snakemake log, or of one "
    "step's log with `step` (a path under the job's `logs/` folder, e.g. `segment/T1.log`). Empty until "
    "the job has started.",
    response_model=JobLog,
    responses=errors(400, 401, 403, 404),
    openapi_extra={"parameters": LOG_PARAMETERS},
)
def log(instance_id: str, request: Request, scope: ProjectScope = Depends(get_scope)) -> JSONResponse:
    return job_log(instance_id, request, scope, kinds=schema.CNVKIT_KIND, id_key="instance_id")


def job_log(job_id: str, request: Request, scope: ProjectScope, *, kinds, id_key: str) -> JSONResponse:
    """The log reply of one job of ``kinds``: ``{id_key, status, progress, log}``."""
    instance_id = job_id
    q = deps.query(request, ("tail", "step"))
    tail = deps.query_int(q, "tail", 1, 10000, 100)
    step = deps.single(q, "step")
    if step is not None and (len(step) > 255 or not _STEP_LOG.fullmatch(step)
                             or any(part in (".", "..") for part in step.split("/"))):
        raise InvalidRequest("must be a relative path under the job's logs/ folder, "
                             "e.g. segment/T1.log (letters, digits, '.', '_', '+', '-', '/')", field="step")
    record = scope.store.get(scope.project_id, deps.job_id(instance_id, scope.project_id), scope.owner_filter,
                             kinds=kinds)
    text = service.log_text(scope.state.cfg.job_dir(record.instance_id), step, tail)
    return JSONResponse({id_key: record.instance_id, "status": record.status.value,
                         "progress": record.progress, "log": text})
