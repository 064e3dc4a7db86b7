"""CNVkit jobs ("tool instances"): submit, list, and localgene's extensions (one job, cancel,
retry, log)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from localgene.api import deps
from localgene.api.deps import ProjectScope, get_scope
from localgene.api.models import CnvkitInstanceDetail, CnvkitListing, CnvkitSubmitted, Empty, JobLog
from localgene.api.query import CnvkitListQuery, LogQuery, NoQuery, checked
from localgene.api.routes import errors
from localgene.jobs import bodies as schema
from localgene.jobs import service

router = APIRouter(tags=["CNVkit jobs"])

BASE = "/v2.0/{project_id}/gene/tools/cnvkit"

SPEC_EXAMPLE = schema.SERVICE_EXAMPLE_BODY


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
def submit(response: Response, scope: ProjectScope = Depends(get_scope),
           body: Any = Depends(deps.json_body)) -> CnvkitSubmitted:
    schema.parse_cnvkit_body(body)  # the body's own problems first, named by field
    deps.check_server_paths(body, scope.state.allowed_paths, scope)
    record = service.submit_cnvkit(scope.store, body, project_id=scope.project_id, owner=scope.caller.name,
                                   settings=scope.state.cfg)
    response.headers["Location"] = f"/v2.0/{scope.project_id}/gene/tools/cnvkit/{record.instance_id}"
    return CnvkitSubmitted(instance_id=record.instance_id)


@router.get(
    BASE,
    summary="List CNVkit jobs",
    description="Newest first. `count` is every job matching the filters. A tenant administrator sees "
    "every user's jobs of the project; an ordinary user sees their own.",
    responses=errors(400, 401, 403),
)
def list_instances(scope: ProjectScope = Depends(get_scope),
                   q: CnvkitListQuery = checked(CnvkitListQuery)) -> CnvkitListing:
    listing = service.list_cnvkit(scope.store, project_id=scope.project_id, owner=scope.owner_filter,
                                  paging=q.paging(), instance_id=q.instance_id)
    return CnvkitListing.model_validate(listing)


@router.get(
    BASE + "/{instance_id}",
    summary="One CNVkit job (localgene extension)",
    description="The listing's item for this job, plus `progress` (done/total steps), `warnings` and "
    "`input_size`.",
    responses=errors(400, 401, 403, 404),
)
def get_instance(instance_id: str, scope: ProjectScope = Depends(get_scope),
                 _: NoQuery = checked(NoQuery)) -> CnvkitInstanceDetail:
    record = service.get(scope.store, deps.job_id(instance_id, scope.project_id), project_id=scope.project_id,
                         owner=scope.owner_filter, kinds=schema.CNVKIT_KIND)
    item = schema.cnvkit_instance_item(record)
    item.update(progress=record.progress, warnings=record.warnings, input_size=record.input_size)
    return CnvkitInstanceDetail.model_validate(item)


@router.delete(
    BASE + "/{instance_id}",
    summary="Cancel a CNVkit job (localgene extension)",
    description="A LAUNCHING or RUNNING job moves to CANCELING, then CANCELLED once its processes "
    "have stopped (a job no worker has taken yet is CANCELLED at once). Any other state: 409.",
    responses=errors(400, 401, 403, 404, 409),
)
def cancel(instance_id: str, scope: ProjectScope = Depends(get_scope), _: NoQuery = checked(NoQuery)) -> Empty:
    service.cancel(scope.store, deps.job_id(instance_id, scope.project_id), project_id=scope.project_id,
                   owner=scope.owner_filter, kinds=schema.CNVKIT_KIND)
    return Empty()


@router.post(
    BASE + "/{instance_id}/retry",
    summary="Retry a FAILED or CANCELLED CNVkit job (localgene extension)",
    description="The job goes back to LAUNCHING (same `instance_id`, same `start_time`); the worker that "
    "takes it resumes it in its own folder, so the steps that had finished are not run again. Its "
    "`message` says it was retried and why it had ended. Any other state: 409.",
    responses=errors(400, 401, 403, 404, 409),
)
def retry(instance_id: str, scope: ProjectScope = Depends(get_scope), _: NoQuery = checked(NoQuery)) -> Empty:
    service.retry(scope.store, deps.job_id(instance_id, scope.project_id), project_id=scope.project_id,
                  owner=scope.owner_filter, kinds=schema.CNVKIT_KIND)
    return Empty()


@router.get(
    BASE + "/{instance_id}/log",
    summary="The tail of a CNVkit job's log (localgene extension)",
    description="The last `tail` lines (1..10000, default 100) of the job's Snakemake log, or of one "
    "step's log with `step` (a path under the job's `logs/` folder, e.g. `segment/T1.log`). Empty until "
    "the job has started.",
    responses=errors(400, 401, 403, 404),
)
def log(instance_id: str, scope: ProjectScope = Depends(get_scope), q: LogQuery = checked(LogQuery)) -> JobLog:
    record, text = job_log(instance_id, scope, q, kinds=schema.CNVKIT_KIND)
    return JobLog(instance_id=record.instance_id, status=record.status.value, progress=record.progress, log=text)


def job_log(job_id: str, scope: ProjectScope, q: LogQuery, *, kinds: str | tuple[str, ...]) -> tuple[Any, str]:
    """One job of ``kinds`` the caller may see, and the tail of its log the query asks for."""
    record = service.get(scope.store, deps.job_id(job_id, scope.project_id), project_id=scope.project_id,
                         owner=scope.owner_filter, kinds=kinds)
    return record, service.log_text(scope.state.cfg.job_dir(record.instance_id), q.step, q.tail)
