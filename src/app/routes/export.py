"""Export jobs: start, list, cancel, retry (API.md "Export jobs"); their status: job_status.py."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from app.deps import get_env, get_settings, public_base_url
from app.errors import ApiError, raise_refusal
from app.jobs_access import check_job_id, plain, user_jobs
from app.json_route import BoundedJsonRoute
from app.responses import errors
from app.schemas import JobPage, JobStatus, StartAccepted
from app.security import current_user
from bindings import r2
from bounds import JOB_ID_PATTERN, anchored, parse_json
from jobs.model import STATUSES
from jobs.params import EXPORT_TYPES, START_MODELS, StartBody
from refusals import refused
from settings import Settings
from storage import keys, urls
from webhooks import policy as webhook_policy
from webhooks import signing

router = APIRouter(prefix="/api/export", tags=["export jobs"], route_class=BoundedJsonRoute)
ExportType = Literal[EXPORT_TYPES]  # type: ignore[valid-type]
# The pattern is documentation: an id that cannot be a job's is answered 404 like an unknown one.
JobId = Annotated[str, Path(description="The job id returned by start",
                            json_schema_extra={"pattern": anchored(JOB_ID_PATTERN)})]
UNKNOWN_JOB = {404: "`not_found`: no such job, or another user's (its existence is not revealed)"}
START_DESCRIPTION = (
    "Checks beyond the schema: `input_key` must follow the key rules (400 `invalid_key`: relative, no empty, `.` "
    "or `..` segment, no backslash or control/format character, at most 1024 bytes with the user prefix) and name a "
    "stored object (400 `input_not_found`); overlay regions need `end_frame >= start_frame` and annotate clips "
    "`end_time > start_time` (422). Unknown fields in `params` are passed to the GPU worker, held to the JSON body "
    "rules. Reusing an `Idempotency-Key` with another body is 409 `idempotency_key_reused`; a replay answers the "
    "first job with `Idempotent-Replayed: true`. A service not configured to run jobs answers 500 `config_error` "
    "before creating anything.")



def _check_configured(settings: Settings) -> None:
    """Fail a start before anything is created when the service cannot possibly run it."""
    if not settings.runpod_endpoint:
        raise ApiError(500, "Server misconfigured: RUNPOD_ENDPOINT is not set", "config_error")
    settings.secret("RUNPOD_API_KEY")
    settings.secret("CALLBACK_SECRET")
    if not urls.s3_configured(settings):
        settings.secret("URL_SIGNING_SECRET")


def _webhook_of(start: StartBody, settings: Settings) -> tuple[str | None, tuple[str, ...]]:
    """The start's webhook and its events, checked: 400 `webhook_not_allowed` for a URL or events the
    deployment does not allow, 500 `config_error` when webhooks are not configured to be signed and retried."""
    url = start.webhook or settings.webhook_url or None
    try:
        if url is None:
            if start.webhook_events:
                raise webhook_policy.WebhookRefused("webhook_events: there is no webhook to send them to")
            return None, ()
        if start.webhook:
            webhook_policy.check_url(start.webhook, hosts=settings.webhook_hosts, default_url=settings.webhook_url,
                                     development=settings.development)
        events = webhook_policy.check_events(start.webhook_events or webhook_policy.DEFAULT_EVENTS)
    except webhook_policy.WebhookRefused as exc:
        raise ApiError(400, str(exc), "webhook_not_allowed") from None
    if settings.webhook_schedule_s is None:
        raise ApiError(500, "Server misconfigured: WEBHOOK_RETRY_SCHEDULE_S is not a list of seconds", "config_error")
    try:
        signing.key_of(settings.secret("WEBHOOK_SECRET"))
    except signing.InvalidSecret:
        raise ApiError(500, "Server misconfigured: WEBHOOK_SECRET is not a whsec_ key", "config_error") from None
    return url, events


def _accepted(job: dict, base_url: str, replayed: bool = False) -> JSONResponse:
    job_id = job["job_id"]
    ws_base = base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    body = {"job_id": job_id, "status": job["status"], "websocket_url": f"{ws_base}/api/jobs/{job_id}/ws",
            "status_url": f"{base_url}/api/export/status/{job_id}", "job": job}
    if "queue_position" in job:  # queued: past a limit of the scheduler (docs/api.md "Scheduling")
        body["queue_position"] = job["queue_position"]
    return JSONResponse(body, status_code=202, headers={"Idempotent-Replayed": "true"} if replayed else None)


def request_fingerprint(export_type: str, start: StartBody) -> str:
    """Identifies a start request's content, so a reused Idempotency-Key with another body is caught."""
    # Without a priority, the body as it was before starts had one: a key used across that deploy still matches.
    fields = start.model_dump(mode="json", exclude={"priority"} if start.priority is None else None)
    return hashlib.sha256(json.dumps([export_type, fields], sort_keys=True).encode()).hexdigest()


async def _start(request: Request, export_type: str, start: StartBody, user_id: str, settings: Settings,
                 idempotency_key: str | None) -> JSONResponse:
    try:
        input_key = keys.check_relative(start.input_key)
    except keys.InvalidKey as exc:
        raise ApiError(400, f"input_key: {exc}", "invalid_key") from None
    _check_configured(settings)

    webhook_url, webhook_events = _webhook_of(start, settings)
    env = get_env(request)
    if await r2.head(env.USER_DATA, keys.user_key(user_id, input_key)) is None:
        raise ApiError(400, "input_key names no stored object; upload it first", "input_not_found")

    base_url = public_base_url(request, settings)
    spec = {"job_id": uuid.uuid4().hex, "user_id": user_id, "type": export_type, "project_id": start.project_id,
            "input_key": input_key, "params": start.params.model_dump(mode="json", exclude_none=True),
            "base_url": base_url, "webhook_url": webhook_url, "webhook_events": list(webhook_events),
            "queue_ttl_s": start.queue_ttl_s or settings.queue_ttl_s,
            "execution_timeout_s": start.execution_timeout_s or settings.execution_timeout_s,
            "priority": start.priority or 0}
    # A replayed Idempotency-Key answers the first request's job (created now if that request died
    # before creating it); the claim and the create are one step of the user's object.
    fingerprint = request_fingerprint(export_type, start) if idempotency_key else ""
    created = plain(await user_jobs(env, user_id).start(spec, idempotency_key, fingerprint))
    if refused(created):
        raise_refusal(created)
    return _accepted(created["job"], base_url, replayed=created["replayed"])


def _start_route(export_type: str, model: type[StartBody]) -> None:
    """One route per export type, so each has its own validated, documented body."""

    async def start_export(
        request: Request,
        body: model,  # type: ignore[valid-type]
        user_id: str = Depends(current_user),
        settings: Settings = Depends(get_settings),
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    ) -> JSONResponse:
        return await _start(request, export_type, body, user_id, settings, idempotency_key)

    # With postponed annotations `body: model` is the string "model"; give FastAPI the class itself.
    start_export.__annotations__["body"] = model
    router.add_api_route(
        f"/{export_type}/start", start_export, methods=["POST"], status_code=202,
        summary=f"Start a {export_type} export", name=f"start_{export_type}_export",
        description=START_DESCRIPTION, responses={202: {"model": StartAccepted}, **errors(
            401, 403, 409, 422, 500, json_body=True, user_scoped=True, notes={
                400: "`invalid_key`, `input_not_found` (see the description), `webhook_not_allowed`",
                409: "`idempotency_key_reused`"})})


for _type, _model in START_MODELS.items():
    _start_route(_type, _model)


@router.get("/jobs", summary="The caller's jobs, newest first",
            responses={200: {"model": JobPage}, **errors(401, 403, 422, 500, user_scoped=True, notes={
                400: "`invalid_cursor`: a cursor this API did not issue"})})
async def list_jobs(
    request: Request,
    user_id: str = Depends(current_user),
    status: Annotated[Literal[STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
    type: Annotated[Literal[EXPORT_TYPES] | None, Query()] = None,  # type: ignore[valid-type]  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
) -> dict:
    if cursor is not None:
        _check_cursor(cursor)
    page = plain(await user_jobs(get_env(request), user_id).list_jobs(status, type, limit, cursor))
    if "error" in page:
        raise ApiError(400, page["error"], "invalid_cursor")
    return page


def _check_cursor(cursor: str) -> None:
    """Refuse a cursor that is not base64url JSON within the JSON body rules before it reaches the
    user's job list, whose SQL must never bind an integer beyond the safe range (jobs.cursor checks its shape)."""
    try:
        parse_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):  # JsonRejected is a ValueError
        raise ApiError(400, "cursor is not one this API returned", "invalid_cursor") from None


@router.post("/jobs/{job_id}/cancel", summary="Cancel a job",
             responses={200: {"model": JobStatus}, **errors(401, 403, 404, 409, 500, user_scoped=True, notes={
                 **UNKNOWN_JOB, 409: "`already_finished`: the job has ended (any terminal status); the body "
                                      "also carries the `job`"})})
async def cancel_job(request: Request, job_id: JobId, user_id: str = Depends(current_user)) -> dict:
    answer = plain(await user_jobs(get_env(request), user_id).cancel(check_job_id(job_id)))
    if refused(answer):
        raise_refusal(answer)
    return answer["job"]


@router.post("/jobs/{job_id}/retry", summary="Run a finished job again under its id", status_code=202,
             description=(
                 "Runs an `error`, `timed_out`, `cancelled` or `expired` job again: a new attempt (new RunPod id), the "
                 "earlier ones kept in `attempts`. Answers like a start (202, `Idempotent-Replayed: true` for a "
                 "replayed `Idempotency-Key`); the job's WebSocket and webhooks say `retrying`."),
             responses={202: {"model": StartAccepted}, **errors(401, 403, 404, 409, 422, 500, user_scoped=True, notes={
                 **UNKNOWN_JOB, 409: "`not_retryable` (queued, pending, processing or complete), `too_many_attempts` (20), "
                                      "`idempotency_key_reused`; the first two also carry the `job`"})})
async def retry_job(
    request: Request, job_id: JobId, user_id: str = Depends(current_user),
    settings: Settings = Depends(get_settings),
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> JSONResponse:
    _check_configured(settings)
    answer = plain(await user_jobs(get_env(request), user_id).retry(check_job_id(job_id), idempotency_key))
    if refused(answer):
        raise_refusal(answer)
    return _accepted(answer["job"], public_base_url(request, settings), replayed=answer["replayed"])
