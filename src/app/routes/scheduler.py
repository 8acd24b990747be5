"""The scheduler's state for operators (server key): slots in use, with their leases, and who waits
(docs/api.md "Scheduling")."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from app.deps import get_env, get_settings
from app.responses import errors
from app.schemas import SchedulerState
from app.security import server_identity
from auth.identity import Identity
from bindings.rpc import plain
from scheduling.policy import object_name
from settings import Settings

router = APIRouter(prefix="/api/scheduler", tags=["scheduler"])


@router.get("", summary="Slots in use and waiting jobs per user (server key)",
            responses={200: {"model": SchedulerState}, **errors(401, 403, 500)})
async def scheduler_state(request: Request, _: Identity = Depends(server_identity),
                          settings: Settings = Depends(get_settings)) -> dict:
    scheduler = get_env(request).SCHEDULER.getByName(object_name(settings.runpod_endpoint))
    return plain(await scheduler.snapshot())
