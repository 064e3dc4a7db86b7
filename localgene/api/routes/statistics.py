"""Statistics of a project's gene jobs."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from localgene.api.deps import ProjectScope, get_scope
from localgene.api.models import Statistics
from localgene.api.query import TimeRange, checked
from localgene.api.routes import errors
from localgene.jobs import service

router = APIRouter(tags=["Statistics"])


@router.get(
    "/v2.0/{project_id}/gene/statistics",
    summary="Per-state totals of the project's gene jobs",
    description="Counts every job (CNVkit and pipeline) of the project whose start_time is in "
    "[start, end]. A tenant administrator gets every user in `users`; an ordinary user gets only their "
    "own figures, `total_user_num` 1 and no `users` key.",
    responses=errors(400, 401, 403),
    response_model_exclude_unset=True,  # no ``users`` key for an ordinary user
)
def statistics(scope: ProjectScope = Depends(get_scope), q: TimeRange = checked(TimeRange)) -> Statistics:
    return Statistics.model_validate(service.statistics(scope.store, project_id=scope.project_id,
                                                        owner=scope.owner_filter, start=q.start, end=q.end))
