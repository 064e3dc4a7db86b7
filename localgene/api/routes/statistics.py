"""Statistics of a project's gene jobs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from localgene.api import deps
from localgene.api.deps import TIME_PARAMETERS, ProjectScope, get_scope
from localgene.api.models import Statistics
from localgene.api.routes import errors
from localgene.store import parse_time_range

router = APIRouter(tags=["Statistics"])


@router.get(
    "/v2.0/{project_id}/gene/statistics",
    summary="Per-state totals of the project's gene jobs",
    description="Counts every job (CNVkit and pipeline) of the project whose start_time is in "
    "[start, end]. A tenant administrator gets every user in `users`; an ordinary user gets only their "
    "own figures, `total_user_num` 1 and no `users` key.",
    response_model=Statistics,
    responses=errors(400, 401, 403),
    openapi_extra={"parameters": TIME_PARAMETERS},
)
def statistics(request: Request, scope: ProjectScope = Depends(get_scope)) -> JSONResponse:
    q = deps.query(request, ("start", "end"))
    start, end = parse_time_range(q)
    return JSONResponse(scope.store.statistics(scope.project_id, start=start, end=end, owner=scope.owner_filter))
