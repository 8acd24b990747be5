"""A job's webhook delivery log, and sending a delivery again (docs/api.md, "Webhooks")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from app.deps import get_env
from app.errors import raise_refusal
from app.jobs_access import check_job_id, plain, user_jobs
from app.responses import errors
from app.routes.export import JobId
from app.schemas import DeliveryLog, Redelivering
from app.security import current_user
from refusals import refusal, refused

router = APIRouter(prefix="/api/export/jobs", tags=["webhooks"])
DeliveryId = Annotated[str, Path(description="A delivery's id: its `webhook-id`", max_length=100)]


@router.get("/{job_id}/deliveries", summary="The job's webhook deliveries and their attempts",
            responses={200: {"model": DeliveryLog}, **errors(401, 403, 404, 500, user_scoped=True, notes={
                404: "`not_found`: no such job, or another user's"})})
async def deliveries(request: Request, job_id: JobId, user_id: str = Depends(current_user)) -> Response:
    body = await user_jobs(get_env(request), user_id).deliveries(check_job_id(job_id))
    if body is None:
        raise_refusal(refusal("not_found"))
    return Response(body, media_type="application/json")


@router.post("/{job_id}/deliveries/{delivery_id}/redeliver", summary="Send a delivery again, with a fresh schedule",
             status_code=202, responses={202: {"model": Redelivering}, **errors(
                 400, 401, 403, 404, 409, 422, 500, user_scoped=True, notes={
                     400: "`webhook_not_allowed`: the delivery's URL is no longer one the deployment allows "
                          "(WEBHOOK_HOSTS changed since the job was started)",
                     404: "`not_found`: no such job or delivery", 422: "`delivery_id` longer than 100 characters",
                     409: "`delivery_in_flight`: an attempt of it is being sent right now"})})
async def redeliver(request: Request, job_id: JobId, delivery_id: DeliveryId,
                    user_id: str = Depends(current_user)) -> JSONResponse:
    answer = plain(await user_jobs(get_env(request), user_id).redeliver(check_job_id(job_id), delivery_id))
    if refused(answer):
        raise_refusal(answer)
    return JSONResponse(answer, status_code=202)
