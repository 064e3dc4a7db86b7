"""Service endpoints outside the gene API: health."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from localgene.api.deps import ApiState, get_state
from localgene.api.models import Health
from localgene.api.query import NoQuery, checked
from localgene.api.routes import errors

router = APIRouter(tags=["Service"])


@router.get(
    "/health",
    summary="Is the server up (no token needed)",
    description="`identity` says how callers are known: `users-file` (tokens from the users file) or "
    "`single-user` (no users file; the server listens on loopback only and takes every request as the "
    "local user). Also reads the job store, so a 200 means the store is usable.",
    responses=errors(400),
)
def health(state: ApiState = Depends(get_state), _: NoQuery = checked(NoQuery)) -> Health:
    state.store.schema_version()  # the store answers
    return Health(status="ok", version=state.version, identity="single-user" if state.users is None else "users-file")
