"""Callbacks from RunPod and GPU workers, authorised only by the signed URL the Worker generated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

import bounds
from app.deps import get_env, get_settings
from app.errors import ApiError, raise_refusal
from app.jobs_access import plain, user_jobs
from app.json_route import BoundedJsonRoute, require_json
from app.openapi import BOUNDED_JSON_REF
from app.responses import JSON_BODY_400, errors
from app.schemas import CallbackReceived
from auth import callback_sig
from jobs.callbacks import ERROR_MAX, MESSAGE_MAX, RUNPOD_STATUSES, WORKER_STATUSES
from refusals import refused
from settings import Settings
from storage.keys import MAX_KEY_BYTES

router = APIRouter(tags=["callbacks"], route_class=BoundedJsonRoute)


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


# The body is read by `jobs.callbacks` in the user's jobs object, not by pydantic; this states what it accepts.
_NUMBER = {"type": "number", "minimum": -bounds.MAX_INT, "maximum": bounds.MAX_INT}
CALLBACK_BODY_SCHEMA = {"anyOf": [
    {"title": "WorkerReport", "type": "object", "required": ["status"], "additionalProperties": BOUNDED_JSON_REF,
     "properties": {
        "status": {"enum": list(WORKER_STATUSES)},
        "progress": _nullable({**_NUMBER, "description": "Clamped to 0-100; a lower value than the stored one is ignored"}),
        "message": _nullable({"type": "string", "description": f"Cut to {MESSAGE_MAX} characters"}),
        "output_key": _nullable({"type": "string", "minLength": 1, "maxLength": MAX_KEY_BYTES,
                                 "description": "Relative, or with the job's user prefix; must stay inside it"}),
        "error": {**BOUNDED_JSON_REF, "description": f"Any JSON; kept as text, cut to {ERROR_MAX} characters"}}},
    {"title": "RunPodStatus", "type": "object", "required": ["status"], "additionalProperties": BOUNDED_JSON_REF,
     "properties": {
        "id": {"type": "string"},
        "status": {"enum": list(RUNPOD_STATUSES)},
        "output": {"description": "The GPU worker's output: its `output_key` completes the job on COMPLETED, its "
                              "`progress` counts while IN_PROGRESS, `{\"status\": \"error\", \"error\"}` fails it",
                   "anyOf": [{"type": "object", "additionalProperties": BOUNDED_JSON_REF, "properties": {
                       "output_key": _nullable({"type": "string", "minLength": 1, "maxLength": MAX_KEY_BYTES}),
                       "progress": _nullable(_NUMBER), "status": BOUNDED_JSON_REF, "error": BOUNDED_JSON_REF}},
                       {"type": ["null", "boolean", "string", "number", "array"], "items": BOUNDED_JSON_REF,
                        "minimum": -bounds.MAX_INT, "maximum": bounds.MAX_INT}]},
        "error": {**BOUNDED_JSON_REF, "description": f"Any JSON; kept as text, cut to {ERROR_MAX} characters"}}},
]}
_DESCRIPTION = (
    "Either the GPU worker's report or RunPod's own webhook body. Authorised only by `sig` (an API key does not "
    "replace it). A Content-Type that is not JSON is 415 (checked after `sig`); a body with none is read as JSON, "
    "since RunPod's webhook sender is not ours. The body follows the JSON body rules (400). A body of the wrong shape (wrong types, unknown "
    "status), or whose output_key breaks the key rules or leaves the job's user prefix, is 422, checked after the "
    "job is found (404 first). A report after a terminal state answers 200 with `ignored`.")
_RESPONSES = {200: {"model": CallbackReceived}, **errors(400, 401, 404, 413, 415, 422, 500, notes={
    400: JSON_BODY_400, 401: "Missing or invalid `sig`", 404: "`not_found`: no such job",
    500: "`config_error` (CALLBACK_SECRET is not set) or `internal_error`"})}


def _attempt(a: str | None) -> int | None:
    """The attempt a callback URL names (none: the first); None for a value no URL of ours carries."""
    if a is None:
        return 1
    return int(a) if a.isascii() and a.isdigit() and len(a) <= 3 and int(a) >= 2 else None


async def _handle(request: Request, job_id: str, user: str | None, sig: str | None, a: str | None,
                  settings: Settings) -> dict:
    # The signature is the only credential: an API key does not replace it.
    attempt = _attempt(a)
    if attempt is None or not callback_sig.verify(settings.secret("CALLBACK_SECRET"), job_id, user, sig, attempt):
        raise ApiError(401, "Missing or invalid callback signature", "unauthorized")
    # RunPod's webhook sender is not ours and its headers are not documented: a body with no
    # Content-Type is read as JSON rather than risk refusing a completion; a declared other type is 415.
    require_json(request.headers.get("content-type"), absent_is_json=True)
    try:
        body = bounds.parse_json(await request.body())
    except bounds.JsonRejected as exc:
        raise ApiError(400, str(exc), exc.code) from None
    answer = plain(await user_jobs(get_env(request), user).callback(job_id, body, attempt))
    if refused(answer):
        raise_refusal(answer)
    return answer


# Patterns are documentation: a job id or signature that does not match is answered as a wrong one (401).
CallbackJobId = Annotated[str, Path(json_schema_extra={"pattern": bounds.anchored(bounds.JOB_ID_PATTERN)})]
Sig = Annotated[str | None, Query(description="hex HMAC-SHA256(CALLBACK_SECRET, \"<u>/<job_id>\"), with \"/<a>\" "
                                              "appended when `a` is given",
                                  json_schema_extra={"pattern": bounds.anchored(bounds.HMAC_HEX_PATTERN)})]
User = Annotated[str | None, Query(alias="u", description="The job's user: where its record is kept",
                                   json_schema_extra={"pattern": bounds.anchored(bounds.USER_ID_PATTERN)})]
Attempt = Annotated[str | None, Query(alias="a", description="The job's attempt (from the second on), signed with it",
                                      json_schema_extra={"pattern": "^([2-9]|[1-9][0-9]{1,2})$"})]
_OPENAPI = {"requestBody": {"required": True, "content": {"application/json": {"schema": CALLBACK_BODY_SCHEMA}}}}


@router.post("/api/runpod/callback/{job_id}", summary="RunPod webhook / GPU worker progress",
             description=_DESCRIPTION, responses=_RESPONSES, openapi_extra=_OPENAPI)
async def runpod_callback(request: Request, job_id: CallbackJobId, u: User = None, sig: Sig = None,
                          a: Attempt = None, settings: Settings = Depends(get_settings)) -> dict:
    return await _handle(request, job_id, u, sig, a, settings)


@router.post("/api/jobs/{job_id}/do", summary="GPU worker progress (seed path)",
             description=_DESCRIPTION, responses=_RESPONSES, openapi_extra=_OPENAPI)
async def job_do_callback(request: Request, job_id: CallbackJobId, u: User = None, sig: Sig = None,
                          a: Attempt = None, settings: Settings = Depends(get_settings)) -> dict:
    return await _handle(request, job_id, u, sig, a, settings)
