"""`GET /api/downloads`: the caller's finished videos, from their database."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.deps import get_env
from app.errors import ApiError
from app.json_route import BoundedJsonRoute
from app.responses import errors
from app.schemas import Downloads
from app.security import current_user
from bounds import MAX_INT
from storage import user_db

router = APIRouter(tags=["downloads"], route_class=BoundedJsonRoute)


@router.get("/api/downloads", summary="The caller's final videos, newest first",
            responses={200: {"model": Downloads}, **errors(401, 403, 422, 500, user_scoped=True, notes={
                500: "`user_database_corrupt`: the caller's database in storage cannot be read (it is left untouched)"})})
async def downloads(
    request: Request,
    user_id: str = Depends(current_user),
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> dict:
    try:
        rows = await user_db.list_final_videos(get_env(request).USER_DATA, user_id, limit, offset)
    except user_db.CorruptUserDatabase:
        raise ApiError(500, "Your database in storage is unreadable; it was left untouched", "user_database_corrupt") from None
    return {"downloads": rows}
