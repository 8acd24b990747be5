"""Callbacks from RunPod and GPU workers, authorised only by the signed URL the Worker generated."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.deps import get_env, get_settings
from app.errors import ApiError
from app.jobs_access import job_stub, plain
from auth import callback_sig
from settings import Settings

router = APIRouter(tags=["callbacks"])


async def _handle(request: Request, job_id: str, sig: str | None, settings: Settings) -> dict:
    # The signature is the only credential: an API key does not replace it.
    if not callback_sig.verify(settings.secret("CALLBACK_SECRET"), job_id, sig):
        raise ApiError(401, "Missing or invalid callback signature", "unauthorized")
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Request body is not valid JSON", "invalid_json") from None
    answer = plain(await job_stub(get_env(request), job_id).callback(body))
    if answer.get("error") == "not_found":
        raise ApiError(404, "Unknown job", "not_found")
    if answer.get("error") == "invalid":
        loc = ["body", answer["field"]] if answer.get("field") else ["body"]
        raise ApiError(422, f"Invalid callback: {answer['message']}", "validation_error",
                       details=[{"loc": loc, "msg": answer["message"], "type": "value_error"}])
    return answer


Sig = Annotated[str | None, Query(description="hex HMAC-SHA256(CALLBACK_SECRET, job_id)")]


@router.post("/api/runpod/callback/{job_id}", summary="RunPod webhook / GPU worker progress")
async def runpod_callback(request: Request, job_id: str, sig: Sig = None,
                          settings: Settings = Depends(get_settings)) -> dict:
    return await _handle(request, job_id, sig, settings)


@router.post("/api/jobs/{job_id}/do", summary="GPU worker progress (seed path)")
async def job_do_callback(request: Request, job_id: str, sig: Sig = None,
                          settings: Settings = Depends(get_settings)) -> dict:
    return await _handle(request, job_id, sig, settings)
