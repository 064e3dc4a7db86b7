"""Pipeline jobs (DNA_GERMLINE, DNA_SOMATIC, RNA_DIFF_EXPR): submit, list, one job, cancel, log.

A submitted body is checked in full (shape, reference names, inputs, FASTQ pairs, output) and
recorded as LAUNCHING; the worker runs it with the pipeline's Snakemake workflow. A pipeline
whose workflow is not installed is refused with 400 DLI.0007 naming it (docs/pipelines.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from localgene.api import deps
from localgene.api.deps import ProjectScope, get_scope
from localgene.api.models import Empty, PipelineJob, PipelineJobLog, PipelineListing, PipelineSubmitted
from localgene.api.query import LogQuery, NoQuery, PipelineListQuery, checked
from localgene.api.routes import errors
from localgene.api.routes.cnvkit import job_log
from localgene.jobs import bodies as schema
from localgene.jobs import service

router = APIRouter(tags=["Pipeline jobs"])

BASE = "/v2.0/{project_id}/gene/jobs"

_PIPELINE_SCHEMA = {
    "oneOf": [{"$ref": f"#/components/schemas/{model.__name__}"} for model in schema.PIPELINE_MODELS.values()],
    "discriminator": {
        "propertyName": "job_type",
        "mapping": {kind: f"#/components/schemas/{model.__name__}" for kind, model in schema.PIPELINE_MODELS.items()},
    },
}


@router.post(
    BASE,
    status_code=201,
    summary="Submit a pipeline job",
    description="The body is validated in full against its `job_type`'s rules; reference names "
    "(`hg38`, known sites, ...) must be in the server's reference registry (else 400 DLI.0002 listing "
    "its names), every input must exist, local FASTQ pairs must be readable FASTQ with matching read "
    "names, and `output` must be deliverable. Then the job is recorded as LAUNCHING and `localgene "
    "worker` runs it. A pipeline whose workflow is not installed: 400 DLI.0007. Replies 201 with the "
    "new job's `job_id`.",
    response_model=PipelineSubmitted,
    responses=errors(400, 401, 403, 413),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _PIPELINE_SCHEMA}}}},
)
def submit(response: Response, scope: ProjectScope = Depends(get_scope),
           body: Any = Depends(deps.json_body)) -> PipelineSubmitted:
    schema.parse_pipeline_body(body)  # the body's own problems first, named by field
    deps.check_server_paths(body, scope.state.allowed_paths, scope)  # + data roots (403)
    record = service.submit_pipeline(scope.store, body, project_id=scope.project_id, owner=scope.caller.name,
                                     settings=scope.state.cfg)
    response.headers["Location"] = f"/v2.0/{scope.project_id}/gene/jobs/{record.instance_id}"
    return PipelineSubmitted(job_id=record.instance_id)


@router.get(
    BASE,
    summary="List pipeline jobs",
    description="Newest first; `job_count` is every job matching the filters; `request` is the submitted "
    "body as a JSON string. A tenant administrator sees every user's jobs; an ordinary user their own.",
    responses=errors(400, 401, 403),
)
def list_jobs(scope: ProjectScope = Depends(get_scope),
              q: PipelineListQuery = checked(PipelineListQuery)) -> PipelineListing:
    listing = service.list_pipeline(scope.store, project_id=scope.project_id, owner=scope.owner_filter,
                                    paging=q.paging(), job_type=q.job_type)
    return PipelineListing.model_validate(listing)


@router.get(
    BASE + "/{job_id}",
    summary="One pipeline job (localgene extension)",
    description="The listing's item for this job.",
    responses=errors(400, 401, 403, 404),
)
def get_job(job_id: str, scope: ProjectScope = Depends(get_scope), _: NoQuery = checked(NoQuery)) -> PipelineJob:
    record = service.get(scope.store, deps.job_id(job_id, scope.project_id), project_id=scope.project_id,
                         owner=scope.owner_filter, kinds=schema.PIPELINE_KINDS)
    return PipelineJob.model_validate(schema.pipeline_job_item(record))


@router.delete(
    BASE + "/{job_id}",
    summary="Cancel a pipeline job",
    description="A LAUNCHING or RUNNING job moves to CANCELING, then CANCELLED. A FINISHED, FAILED, "
    "CANCELING or CANCELLED job cannot be cancelled: 409.",
    responses=errors(400, 401, 403, 404, 409),
)
def cancel(job_id: str, scope: ProjectScope = Depends(get_scope), _: NoQuery = checked(NoQuery)) -> Empty:
    service.cancel(scope.store, deps.job_id(job_id, scope.project_id), project_id=scope.project_id,
                   owner=scope.owner_filter, kinds=schema.PIPELINE_KINDS)
    return Empty()


@router.post(
    BASE + "/{job_id}/retry",
    summary="Retry a FAILED or CANCELLED pipeline job (localgene extension)",
    description="The job goes back to LAUNCHING (same `job_id`, same `start_time`); the worker that "
    "takes it resumes it in its own folder, so the steps that had finished are not run again. Its "
    "`message` says it was retried and why it had ended. Any other state: 409.",
    responses=errors(400, 401, 403, 404, 409),
)
def retry(job_id: str, scope: ProjectScope = Depends(get_scope), _: NoQuery = checked(NoQuery)) -> Empty:
    service.retry(scope.store, deps.job_id(job_id, scope.project_id), project_id=scope.project_id,
                  owner=scope.owner_filter, kinds=schema.PIPELINE_KINDS)
    return Empty()


@router.get(
    BASE + "/{job_id}/log",
    summary="The tail of a pipeline job's log (localgene extension)",
    description="The last `tail` lines (1..10000, default 100) of the job's Snakemake log, or of one "
    "step's log with `step` (a path under the job's `logs/` folder). Empty until the job has started.",
    responses=errors(400, 401, 403, 404),
)
def log(job_id: str, scope: ProjectScope = Depends(get_scope), q: LogQuery = checked(LogQuery)) -> PipelineJobLog:
    record, text = job_log(job_id, scope, q, kinds=schema.PIPELINE_KINDS)
    return PipelineJobLog(job_id=record.instance_id, status=record.status.value, progress=record.progress, log=text)
