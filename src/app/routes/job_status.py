"""A job's status, read at once or long-polled (docs/api.md "Export jobs", "Live events")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.deps import get_env
from app.errors import ApiError, raise_refusal
from app.jobs_access import check_job_id, plain, user_jobs
from app.json_route import BoundedJsonRoute
from app.responses import errors
from app.routes.export import UNKNOWN_JOB, ExportType, JobId
from app.schemas import JobStatus
from app.security import current_user
from bounds import MAX_INT
from refusals import HTTP, refusal, refused

router = APIRouter(prefix="/api/export", tags=["export jobs"], route_class=BoundedJsonRoute)
MAX_WAIT_S = 30
# A long-poll (docs/api.md "Live events"): the object parks the call on the job's next event.
WaitS = Annotated[int, Query(ge=0, le=MAX_WAIT_S, description=(
    "Long-poll: wait up to this many seconds for the job's next event when its `seq` is not past `after_seq` "
    "(0: answer at once)"))]
AfterSeq = Annotated[int | None, Query(ge=0, le=MAX_INT, description=(
    "The `seq` the caller has seen; answer at once if the job's is greater (default: the job's seq now, so a "
    "wait answers at its next event)"))]
_STATUS_ERRORS = {**UNKNOWN_JOB, 503: "`too_many_waiters`: as many long-polls wait on this user's jobs as "
                                       "they may; try again after Retry-After"}


async def _status(request: Request, job_id: str, user_id: str, export_type: str | None = None, wait_s: int = 0,
                  after_seq: int | None = None) -> Response:
    jobs = user_jobs(get_env(request), user_id)
    if wait_s:
        body = plain(await jobs.wait_status(check_job_id(job_id), export_type, after_seq, wait_s))
        if refused(body):
            raise ApiError(503, HTTP[body["refused"]][1], body["refused"], headers={"Retry-After": "1"})
    else:  # the common read: a plain method of the object, no waiting machinery
        body = await jobs.status(check_job_id(job_id), export_type)
    if body is None:
        raise_refusal(refusal("not_found"))
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"} if wait_s else None)


@router.get("/status/{job_id}", summary="A job's status (or a long-poll for its next event)",
            responses={200: {"model": JobStatus},
                       **errors(401, 403, 404, 422, 500, 503, user_scoped=True, notes=_STATUS_ERRORS)})
async def job_status(request: Request, job_id: JobId, user_id: str = Depends(current_user), wait_s: WaitS = 0,
                     after_seq: AfterSeq = None) -> Response:
    return await _status(request, job_id, user_id, wait_s=wait_s, after_seq=after_seq)


@router.get("/{export_type}/status/{job_id}", summary="A job's status (per-type alias)",
            responses={200: {"model": JobStatus},
                       **errors(401, 403, 404, 422, 500, 503, user_scoped=True, notes=_STATUS_ERRORS)})
async def typed_job_status(request: Request, export_type: ExportType, job_id: JobId,
                           user_id: str = Depends(current_user), wait_s: WaitS = 0,
                           after_seq: AfterSeq = None) -> Response:
    return await _status(request, job_id, user_id, export_type, wait_s, after_seq)


