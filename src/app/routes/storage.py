"""Storage URLs: presigned downloads and uploads for keys under the caller's prefix."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.deps import get_settings, public_base_url
from app.errors import ApiError
from app.json_route import BoundedJsonRoute
from app.responses import errors
from app.security import current_user
from bounds import anchored, integer
from clock import iso
from settings import Settings
from storage import content_types, keys, urls

router = APIRouter(prefix="/api/storage", tags=["storage"], route_class=BoundedJsonRoute)
DEFAULT_EXPIRES_S = 3600
# type/subtype, then parameters of printable ASCII (no control characters).
_MIME = content_types.MIME_CHARS
CONTENT_TYPE_PATTERN = anchored(rf"{_MIME}/{_MIME}(?:[ \t]*;[ -~]*)?")
# Key rules are checked by `storage.keys` (400 `invalid_key`); the schema states the length bound.
KEY_SCHEMA = {"minLength": 1, "maxLength": keys.MAX_KEY_BYTES}
KEY_RULES = (f"Keys are relative to the caller's prefix; refused with 400 `invalid_key` when absolute, with an empty, "
             f"`.` or `..` segment, a backslash, a control or invisible format character, or over "
             f"{keys.MAX_KEY_BYTES} bytes with the `{{user_id}}/` prefix.")


class UploadUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="Relative key, e.g. working_videos/clip.mp4", json_schema_extra=KEY_SCHEMA)
    content_type: str | None = Field(
        None, max_length=200, pattern=CONTENT_TYPE_PATTERN,
        description=f"The type the upload is bound to: one of {content_types.UPLOAD_TYPES_TEXT} (400 "
                    "`content_type_not_allowed` otherwise), as its `type/subtype` in lower case. Absent: guessed "
                    "from the key's extension ("
                    + ", ".join(f".{ext} {ctype}" for ext, ctype in content_types.BY_EXTENSION.items())
                    + "), else application/octet-stream. The PUT must send exactly `headers`.")
    expires_in: integer(1, urls.MAX_EXPIRES_S) = DEFAULT_EXPIRES_S


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



_KEY_400 = {400: "`invalid_key`: the key breaks a key rule"}
_UPLOAD_400 = {400: "`invalid_key`: the key breaks a key rule; `content_type_not_allowed`: not a type uploads may have"}


@router.get("/presigned-url", response_model=SignedUrl, summary="A download URL for one of the caller's objects",
            description=KEY_RULES + " The object need not exist: its GET answers 404 then.",
            responses=errors(401, 403, 422, 500, user_scoped=True, notes=_KEY_400))
async def presigned_url(
    request: Request,
    key: Annotated[str, Query(description="Relative key", json_schema_extra=KEY_SCHEMA)],
    expires_in: Annotated[int, Query(ge=1, le=urls.MAX_EXPIRES_S)] = DEFAULT_EXPIRES_S,
    user_id: str = Depends(current_user),
    settings: Settings = Depends(get_settings),
) -> SignedUrl:
    full_key = _full_key(user_id, key)
    url, expires = urls.object_url(settings, public_base_url(request, settings), full_key, "GET", expires_in, time.time())
    return SignedUrl(url=url, key=key, expires_at=iso(expires), method="GET")


@router.post("/upload-url", response_model=UploadUrl, summary="An upload (PUT) URL for one of the caller's keys",
             description=KEY_RULES + " `database.sqlite` is the service's own and cannot be uploaded over.",
             responses=errors(401, 403, 422, 500, json_body=True, user_scoped=True, notes=_UPLOAD_400))
async def upload_url(
    request: Request,
    body: UploadUrlRequest,
    user_id: str = Depends(current_user),
    settings: Settings = Depends(get_settings),
) -> UploadUrl:
    full_key = _full_key(user_id, body.key, for_upload=True)
    try:
        bound = content_types.upload_type(body.content_type, full_key)
    except content_types.TypeNotAllowed as exc:
        raise ApiError(400, str(exc), "content_type_not_allowed") from None
    url, expires = urls.object_url(settings, public_base_url(request, settings), full_key, "PUT", body.expires_in,
                                   time.time(), content_type=bound)
    return UploadUrl(url=url, key=body.key, expires_at=iso(expires), method="PUT", headers={"Content-Type": bound})
