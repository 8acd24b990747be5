"""`POST /api/auth/token`: how a backend mints a browser's user token."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from app.deps import get_settings
from app.json_route import BoundedJsonRoute
from app.responses import errors
from app.security import server_identity
from auth import tokens
from auth.identity import Identity
from bounds import USER_ID_PATTERN, anchored, integer
from settings import Settings

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=BoundedJsonRoute)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(pattern=anchored(USER_ID_PATTERN), description="The user the token acts for")
    ttl_s: integer(tokens.MIN_TTL_S, tokens.MAX_TTL_S) = Field(3600, description="Lifetime in seconds (60 s to 7 days)")


class TokenResponse(BaseModel):
    token: str
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_at: str = Field(description="ISO 8601, UTC")


@router.post("/token", response_model=TokenResponse, summary="Mint a user token (server API key only)",
             responses=errors(401, 403, 422, 500, json_body=True, user_scoped=True,
                              notes={403: "`server_key_required`: a user token cannot mint tokens"}))
async def mint_token(body: TokenRequest, _: Identity = Depends(server_identity),
                     settings: Settings = Depends(get_settings)) -> TokenResponse:
    token, expires = tokens.mint(settings.secret("USER_TOKEN_SECRET"), body.user_id, body.ttl_s, time.time())
    return TokenResponse(token=token, expires_at=expires.isoformat().replace("+00:00", "Z"))
