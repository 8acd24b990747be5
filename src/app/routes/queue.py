"""The encode queue (API.md "Encode queue"): enqueue, claim, heartbeat, finish, fail, requeue, list.

Every route needs a server API key or a queue token (the operator pages' credential, API.md
"Queue tokens"); a user token is refused. Each queue is one `EncodeQueue` object, named by `?queue=`;
the routes validate, call the object once and turn its refusals into HTTP errors (`refusals.HTTP`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from app.deps import get_env
from app.errors import ApiError, raise_refusal
from app.jobs_access import plain
from app.json_route import BoundedJsonRoute
from app.responses import INVALID_USER_ID, errors
from app.schemas import QueueClaimed, QueueJob, QueueJobDeleted, QueueStats
from app.security import queue_identity
from bounds import DECIMAL_PATTERN, MAX_INT, anchored, read_decimal
from encode_queue import policy
from encode_queue.requests import EnqueueBody, EnqueueItem, FailBody
from encode_queue.rows import STATUSES
from refusals import refusal, refused

router = APIRouter(prefix="/api/jobs", tags=["encode queue"], route_class=BoundedJsonRoute,
                   dependencies=[Depends(queue_identity)])
# The one GET that changes something (a claim takes a job): no HEAD there (app.GET_WITHOUT_HEAD).
CLAIM_PATH = f"{router.prefix}/claim"

QueueName = Annotated[str, Query(alias="queue", pattern=anchored(policy.QUEUE_NAME_PATTERN),
                                 description="Which queue (one object each)")]
# A path id that is not a decimal integer is an unknown job (404), as with export job ids.
JobId = Annotated[str, Path(description="The row's id", json_schema_extra={"pattern": anchored(DECIMAL_PATTERN)})]
LeaseId = Annotated[str | None, Query(max_length=64, description=(
    "The claim's `lease_id`: when given and no longer current, 409 `lease_lost` and nothing changes"))]
LeaseSeconds = Annotated[int, Query(ge=policy.MIN_LEASE_S, le=policy.MAX_LEASE_S, description="Lease length in seconds")]
WaitSeconds = Annotated[int, Query(ge=0, le=policy.MAX_WAIT_S, description=(
    "Long poll: when no job is available, hold the request up to this many seconds and answer as soon "
    "as one is (claimers waiting are served first come, first served); 0 (default) answers at once"))]
MaxJobs = Annotated[int | None, Query(alias="max", ge=1, le=policy.MAX_CLAIM_BATCH, description=(
    "Claim up to this many jobs at once, each with its own lease; when given (even 1) the answer is "
    "`{\"jobs\": [...]}`, without it the single row as before"))]

_NOTES_HELD = {404: "`not_found`, `not_started` (the job is pending)",
               409: "`lease_lost` (the given lease_id is not the current claim's), `not_in_progress`"}


def _errors(*statuses: int, notes: dict[int, str] | None = None, json_body: bool = False) -> dict:
    """`errors(...)` with what the credential checks answer on every queue route."""
    auth_notes = {400: f"{INVALID_USER_ID}; a well-formed X-User-Id is ignored here",
                  403: "`server_key_required`: a user token (send a server API key or a queue token)"}
    return errors(400, 401, 403, *statuses, json_body=json_body, notes={**auth_notes, **(notes or {})})


def _queue(request: Request, name: str) -> Any:
    return get_env(request).ENCODE_QUEUE.getByName(name)


def _job_id(text: str) -> int:
    value = read_decimal(text)
    if value is None or not 1 <= value <= MAX_INT:
        raise_refusal(refusal("not_found"))
    return value


def _answer(answer: Any) -> dict:
    """The object's answer as a dict, or the HTTP error for its refusal."""
    answer = plain(answer)
    if refused(answer):
        raise_refusal(answer)
    return answer


def _job(answer: Any) -> dict:
    return _answer(answer)["job"]


@router.post("", status_code=201, summary="Enqueue one job or up to 1000",
             response_model=list[QueueJob], responses=_errors(422, 500, json_body=True, notes={
                 413: f"`too_many_jobs`: more than {policy.MAX_BATCH} rows in one request"}))
async def enqueue(request: Request, body: EnqueueBody, queue: QueueName = policy.DEFAULT_QUEUE) -> JSONResponse:
    items: list[EnqueueItem] = body if isinstance(body, list) else [body]
    if len(items) > policy.MAX_BATCH:
        raise ApiError(413, f"At most {policy.MAX_BATCH} jobs per request; got {len(items)}", "too_many_jobs")
    answer = plain(await _queue(request, queue).enqueue([i.model_dump() for i in items]))
    return JSONResponse(answer["jobs"], status_code=201)


async def _claim(request: Request, queue: str, lease_s: int, wait_s: int, max_jobs: int | None) -> dict:
    jobs = _answer(await _queue(request, queue).claim(lease_s, wait_s, max_jobs or 1))["jobs"]
    # Without `max`, the single row: the body today's (and the seed's) workers read.
    return jobs[0] if max_jobs is None else {"jobs": jobs}


_CLAIM = {"summary": "Claim the first available job (by priority, then age), or up to `max`, with leases",
          "response_model": QueueJob | QueueClaimed,
          "responses": {200: {"description": "The job (without `max`), or `{\"jobs\": [...]}` (with `max`)"},
                        **_errors(404, 422, 500, 503, notes={
                            404: "`no_jobs`: nothing is available (after `wait_s`, when given)",
                            503: f"`too_many_waiters`: {policy.DEFAULT_MAX_WAITERS} claims (QUEUE_MAX_WAITERS) "
                                 "already wait on this queue; `limit` says how many"})}}


@router.get("/claim", **_CLAIM)
async def claim(request: Request, queue: QueueName = policy.DEFAULT_QUEUE,
                lease_s: LeaseSeconds = policy.DEFAULT_LEASE_S, wait_s: WaitSeconds = 0,
                max_jobs: MaxJobs = None) -> dict:
    return await _claim(request, queue, lease_s, wait_s, max_jobs)


@router.post("/claim", **{**_CLAIM, "summary": "Claim (the same as GET, for clients that want POST)"})
async def claim_post(request: Request, queue: QueueName = policy.DEFAULT_QUEUE,
                     lease_s: LeaseSeconds = policy.DEFAULT_LEASE_S, wait_s: WaitSeconds = 0,
                     max_jobs: MaxJobs = None) -> dict:
    return await _claim(request, queue, lease_s, wait_s, max_jobs)


@router.get("/stats", summary="How many jobs have each status", response_model=QueueStats,
            responses=_errors(422, 500))
async def stats(request: Request, queue: QueueName = policy.DEFAULT_QUEUE) -> dict:
    return plain(await _queue(request, queue).stats())


@router.get("", summary="List jobs by id", response_model=list[QueueJob],
            responses={200: {"headers": {"X-Total-Count": {
                "description": "How many rows match the filter", "schema": {"type": "integer"}}}},
                **_errors(422, 500)})
async def list_jobs(
    request: Request,
    queue: QueueName = policy.DEFAULT_QUEUE,
    status: Annotated[Literal[("all", *STATUSES)], Query()] = "all",  # type: ignore[valid-type]
    limit: Annotated[int, Query(ge=1, le=policy.MAX_PAGE)] = policy.DEFAULT_PAGE,
    offset: Annotated[int, Query(ge=0, le=policy.MAX_OFFSET)] = 0,
) -> JSONResponse:
    answer = plain(await _queue(request, queue).list_jobs(status, limit, offset))
    return JSONResponse(answer["jobs"], headers={"X-Total-Count": str(answer["total"])})


@router.get("/{job_id}", summary="One job", response_model=QueueJob,
            responses=_errors(404, 422, 500, notes={404: "`not_found`"}))
async def get_job(request: Request, job_id: JobId, queue: QueueName = policy.DEFAULT_QUEUE) -> dict:
    return _job(await _queue(request, queue).get(_job_id(job_id)))


@router.post("/{job_id}/heartbeat", summary="Renew a claim's lease", response_model=QueueJob,
             responses=_errors(404, 409, 422, 500, notes=_NOTES_HELD))
async def heartbeat(request: Request, job_id: JobId, queue: QueueName = policy.DEFAULT_QUEUE,
                    lease_id: LeaseId = None,
                    lease_s: Annotated[int | None, Query(ge=policy.MIN_LEASE_S, le=policy.MAX_LEASE_S,
                                                         description="Default: the claim's")] = None) -> dict:
    return _job(await _queue(request, queue).heartbeat(_job_id(job_id), lease_id, lease_s))


@router.post("/{job_id}/finish", summary="Mark a claimed job finished", response_model=QueueJob,
             responses=_errors(404, 409, 422, 500, notes={
                 **_NOTES_HELD, 409: "`lease_lost`, `not_in_progress` (the job is dead)"}))
async def finish(request: Request, job_id: JobId, queue: QueueName = policy.DEFAULT_QUEUE,
                 lease_id: LeaseId = None) -> dict:
    return _job(await _queue(request, queue).finish(_job_id(job_id), lease_id))


@router.post("/{job_id}/fail", summary="Report a failed attempt", response_model=QueueJob,
             responses=_errors(404, 409, 422, 500, json_body=True, notes=_NOTES_HELD))
async def fail(request: Request, job_id: JobId, body: FailBody, queue: QueueName = policy.DEFAULT_QUEUE,
               lease_id: LeaseId = None) -> dict:
    return _job(await _queue(request, queue).fail(_job_id(job_id), lease_id, body.error, body.retry_in_s))


@router.post("/{job_id}/requeue", summary="Put a dead job back", response_model=QueueJob,
             responses=_errors(404, 409, 422, 500, notes={404: "`not_found`", 409: "`not_dead`"}))
async def requeue(request: Request, job_id: JobId, queue: QueueName = policy.DEFAULT_QUEUE) -> dict:
    return _job(await _queue(request, queue).requeue(_job_id(job_id)))


@router.delete("/{job_id}", summary="Delete a job", response_model=QueueJobDeleted,
               responses=_errors(404, 422, 500, notes={404: "`not_found`"}))
async def delete_job(request: Request, job_id: JobId, queue: QueueName = policy.DEFAULT_QUEUE) -> dict:
    _answer(await _queue(request, queue).delete(_job_id(job_id)))
    return {"message": "Job deleted successfully"}
