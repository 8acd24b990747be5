"""Storage URLs: presigned downloads and uploads for keys under the caller's prefix."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.deps import get_settings, public_base_url
from app.errors import ApiError
from app.security import current_user
from settings import Settings
from storage import keys, urls

router = APIRouter(prefix="/api/storage", tags=["storage"])
DEFAULT_EXPIRES_S = 3600


class UploadUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="Relative key, e.g. working_videos/clip.mp4")
    content_type: str | None = Field(None, max_length=200, pattern=r"^[\w.+-]+/[\w.+-]+(\s*;.*)?$")
    expires_in: int = Field(DEFAULT_EXPIRES_S, ge=1, le=urls.MAX_EXPIRES_S, strict=True)


class SignedUrl(BaseModel):
    url: str
    key: str
    expires_at: str
    method: str


class UploadUrl(SignedUrl):
    headers: dict[str, str] = Field(description="Headers the PUT must carry")


def _full_key(user_id: str, key: str, for_upload: bool = False) -> str:
    try:
        return keys.user_upload_key(user_id, key) if for_upload else keys.user_key(user_id, key)
    except keys.InvalidKey as exc:
        raise ApiError(400, f"key: {exc}", "invalid_key") from None



def _iso(dt) -> str:
    return dt.isoformat().replace("+00:00", "Z")


@router.get("/presigned-url", response_model=SignedUrl, summary="A download URL for one of the caller's objects")
async def presigned_url(
    request: Request,
    key: Annotated[str, Query(description="Relative key")],
    expires_in: Annotated[int, Query(ge=1, le=urls.MAX_EXPIRES_S)] = DEFAULT_EXPIRES_S,
    user_id: str = Depends(current_user),
    settings: Settings = Depends(get_settings),
) -> SignedUrl:
    full_key = _full_key(user_id, key)
    url, expires = urls.object_url(settings, public_base_url(request, settings), full_key, "GET", expires_in, time.time())
    return SignedUrl(url=url, key=key, expires_at=_iso(expires), method="GET")


@router.post("/upload-url", response_model=UploadUrl, summary="An upload (PUT) URL for one of the caller's keys")
async def upload_url(
    request: Request,
    body: UploadUrlRequest,
    user_id: str = Depends(current_user),
    settings: Settings = Depends(get_settings),
) -> UploadUrl:
    full_key = _full_key(user_id, body.key, for_upload=True)
    url, expires = urls.object_url(settings, public_base_url(request, settings), full_key, "PUT", body.expires_in,
                                   time.time(), content_type=body.content_type)
    headers = {"Content-Type": body.content_type} if body.content_type else {}
    return UploadUrl(url=url, key=body.key, expires_at=_iso(expires), method="PUT", headers=headers)
