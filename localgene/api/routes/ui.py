"""The job browser of ``localgene serve``: the page at ``/ui`` and the JSON it reads.

The page (``localgene/api/ui/``: HTML, CSS, JavaScript, all shipped with the package) asks the
user for their token once and sends it as ``X-Auth-Token`` with every request, exactly as an API
client does; the token lives in the browser tab's ``sessionStorage`` (docs/ui.md). Every route
below takes the caller and the project through the API's own dependencies
(:func:`deps.get_caller`, :func:`deps.get_scope`) and reads through the same store queries and
job functions as the API, so a user sees and may cancel exactly the jobs the API would let them.
These routes are not part of the gene API (they are left out of the OpenAPI document).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from localgene import report as job_report
from localgene.api import deps
from localgene.api.deps import ProjectScope, get_caller, get_scope, get_state
from localgene.api.query import BrowserListQuery, NoQuery, TailQuery, checked
from localgene.api.users import Caller
from localgene.errors import JobNotFound
from localgene.jobs import bodies as schema
from localgene.jobs import service
from localgene.jobs.bodies import JobRecord, now_ms
from localgene.jobs.status import ACTIVE, Status
from localgene.report import page as report_page

router = APIRouter(include_in_schema=False)

BASE = "/ui/api/{project_id}"
CNVKIT_TYPE = "CNVKIT"
JOB_TYPES = BrowserListQuery.TYPES
STATUSES = BrowserListQuery.STATUSES
assert JOB_TYPES[0] == CNVKIT_TYPE
_STATIC = {"index.html": "text/html; charset=utf-8", "ui.css": "text/css; charset=utf-8",
           "ui.js": "text/javascript; charset=utf-8", "favicon.svg": "image/svg+xml"}
_NO_STORE = {"Cache-Control": "no-store"}


def _static(name: str) -> bytes:
    return resources.files("localgene.api").joinpath("ui", name).read_bytes()


@router.get("/ui")
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/")
def ui_page() -> Response:
    return Response(_static("index.html"), media_type=_STATIC["index.html"],
                    headers={"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                             f"style-src 'self' {report_page.style_source()}; "  # the report's own sheet
                             "frame-src blob:; object-src 'none'; base-uri 'none'"})


@router.get("/ui/static/{name}")
def ui_static(name: str) -> Response:
    if name not in _STATIC:
        raise StarletteHTTPException(404)  # answered like any unknown path (DLI.0404)
    return Response(_static(name), media_type=_STATIC[name])


@router.get("/ui/api/whoami")
def whoami(caller: Caller = Depends(get_caller), state: Any = Depends(get_state),
           _: NoQuery = checked(NoQuery)) -> JSONResponse:
    """Who the token belongs to: name, role and projects (``*``: any project)."""
    return JSONResponse({"name": caller.name, "role": caller.role, "tenant": caller.tenant,
                         "projects": list(caller.projects), "single_user": caller.single_user,
                         "job_types": list(JOB_TYPES), "statuses": list(STATUSES)}, headers=_NO_STORE)


def job_item(record: JobRecord, now: int | None = None) -> dict[str, Any]:
    """What the browser shows of a job, whatever its kind."""
    done, _, total = record.progress.partition("/")
    return {
        "id": record.instance_id,
        "type": CNVKIT_TYPE if record.kind == schema.CNVKIT_KIND else record.kind,
        "owner": record.owner,
        "status": record.status.value,
        "progress": record.progress,
        "progress_done": int(done or 0),
        "progress_total": int(total or 0),
        "start_time": record.start_time,
        "end_time": record.end_time,
        "duration": record.duration_at(now),
        "message": record.message or "",
        "cancellable": record.status in ACTIVE and record.status is not Status.CANCELING,
    }


def _kinds(job_type: str | None) -> str | tuple[str, ...] | None:
    if job_type is None:
        return None
    return schema.CNVKIT_KIND if job_type == CNVKIT_TYPE else job_type


@router.get(BASE + "/jobs")
def list_jobs(scope: ProjectScope = Depends(get_scope),
              q: BrowserListQuery = checked(BrowserListQuery)) -> JSONResponse:
    """One page of the project's jobs the caller may see, newest first; ``type`` and ``status``
    filter, ``limit``/``offset``/``start``/``end`` follow the API's paging rules."""
    paging = q.paging()
    count, records = scope.store.list_jobs(scope.project_id, kinds=_kinds(q.type), owner=scope.owner_filter,
                                           status=q.status, limit=paging.limit, offset=paging.offset,
                                           start=paging.start, end=paging.end)
    now = now_ms()
    return JSONResponse({"count": count, "limit": paging.limit, "offset": paging.offset,
                         "jobs": [job_item(r, now) for r in records]}, headers=_NO_STORE)


def _record(scope: ProjectScope, job_id: str) -> JobRecord:
    return service.get(scope.store, deps.job_id(job_id, scope.project_id), project_id=scope.project_id,
                       owner=scope.owner_filter)


@router.get(BASE + "/jobs/{job_id}")
def get_job(job_id: str, scope: ProjectScope = Depends(get_scope), _: NoQuery = checked(NoQuery)) -> JSONResponse:
    record = _record(scope, job_id)
    item = job_item(record)
    report = scope.state.cfg.job_dir(record.instance_id) / job_report.REPORT_PATH
    item.update(warnings=record.warnings, request=record.request, has_report=report.is_file())
    return JSONResponse(item, headers=_NO_STORE)


@router.get(BASE + "/jobs/{job_id}/log")
def job_log(job_id: str, scope: ProjectScope = Depends(get_scope), q: TailQuery = checked(TailQuery)) -> JSONResponse:
    record = _record(scope, job_id)
    text = service.log_text(scope.state.cfg.job_dir(record.instance_id), None, q.tail)
    return JSONResponse({"id": record.instance_id, "status": record.status.value, "log": text}, headers=_NO_STORE)


@router.delete(BASE + "/jobs/{job_id}")
def cancel_job(job_id: str, scope: ProjectScope = Depends(get_scope), _: NoQuery = checked(NoQuery)) -> JSONResponse:
    record = _record(scope, job_id)
    record = service.cancel(scope.store, record.instance_id, project_id=scope.project_id,
                            owner=scope.owner_filter, kinds=record.kind)
    return JSONResponse(job_item(record), headers=_NO_STORE)


@router.get(BASE + "/jobs/{job_id}/report")
def job_report_page(job_id: str, scope: ProjectScope = Depends(get_scope), _: NoQuery = checked(NoQuery)) -> Response:
    """The job's ``results/report.html`` as written by its workflow (404 until it exists)."""
    record = _record(scope, job_id)
    path = scope.state.cfg.job_dir(record.instance_id) / job_report.REPORT_PATH
    if not path.is_file():
        raise JobNotFound(f"job {record.instance_id} has no report yet (status {record.status.value})")
    return HTMLResponse(path.read_bytes(), headers={**_NO_STORE, "Content-Security-Policy":
                        "default-src 'none'; img-src data:; style-src 'unsafe-inline'"})
