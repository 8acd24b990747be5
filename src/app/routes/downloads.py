"""`GET /api/downloads`: the caller's finished videos, from their database."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.deps import get_env
from app.errors import ApiError
from app.security import current_user
from storage import user_db

router = APIRouter(tags=["downloads"])


@router.get("/api/downloads", summary="The caller's final videos, newest first")
async def downloads(
    request: Request,
    user_id: str = Depends(current_user),
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    try:
        rows = await user_db.list_final_videos(get_env(request).USER_DATA, user_id, limit, offset)
    except user_db.CorruptUserDatabase:
        raise ApiError(500, "Your database in storage is unreadable; it was left untouched", "user_database_corrupt") from None
    return {"downloads": rows}
