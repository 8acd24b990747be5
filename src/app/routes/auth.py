"""`POST /api/auth/token` and `/api/auth/queue-token`: how a backend mints a browser's user token,
and how an operator's page trades the server API key for a queue token (API.md "Queue tokens")."""

from __future__ import annotations

import time
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from app.deps import get_settings
from app.json_route import BoundedJsonRoute
from app.responses import INVALID_USER_ID, errors
from app.security import server_identity
from auth import queue_tokens, tokens
from auth.identity import Identity, presented_api_key
from bounds import USER_ID_PATTERN, anchored, integer
from clock import iso
from settings import Settings

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=BoundedJsonRoute)

# Only a server API key mints: a user token or a queue token cannot mint anything, not even a queue
# token (a leaked one could otherwise be renewed for ever). X-User-Id means nothing here.
_MINT_ERRORS = {400: INVALID_USER_ID,
                403: "`server_key_required`: a user token or a queue token cannot mint tokens"}


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(pattern=anchored(USER_ID_PATTERN), description="The user the token acts for")
    ttl_s: integer(tokens.MIN_TTL_S, tokens.MAX_TTL_S) = Field(3600, description="Lifetime in seconds (60 s to 7 days)")


class QueueTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl_s: integer(queue_tokens.MIN_TTL_S, queue_tokens.MAX_TTL_S) = Field(
        queue_tokens.DEFAULT_TTL_S, description="Lifetime in seconds (60 s to 12 h)")


class TokenResponse(BaseModel):
    token: str
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_at: str = Field(description="ISO 8601, UTC")


def _answer(token: str, expires: datetime) -> TokenResponse:
    return TokenResponse(token=token, expires_at=iso(expires))


@router.post("/token", response_model=TokenResponse, summary="Mint a user token (server API key only)",
             responses=errors(401, 403, 422, 500, json_body=True, notes=_MINT_ERRORS))
async def mint_token(body: TokenRequest, _: Identity = Depends(server_identity),
                     settings: Settings = Depends(get_settings)) -> TokenResponse:
    return _answer(*tokens.mint(settings.secret("USER_TOKEN_SECRET"), body.user_id, body.ttl_s, time.time()))


@router.post("/queue-token", response_model=TokenResponse,
             summary="Mint a queue token: the encode queue only, for no user (server API key only)",
             description="What the /add-jobs/ and /view-jobs/ pages keep instead of the key (API.md \"Queue "
                         "tokens\"). The body may be empty or `{}` (1 h).",
             responses=errors(401, 403, 422, 500, json_body=True, notes=_MINT_ERRORS))
async def mint_queue_token(request: Request, body: QueueTokenRequest | None = None,
                           _: Identity = Depends(server_identity),
                           settings: Settings = Depends(get_settings)) -> TokenResponse:
    ttl_s = body.ttl_s if body is not None else queue_tokens.DEFAULT_TTL_S
    # The token names the key that minted it, and counts only while that key is in API_KEYS.
    api_key = presented_api_key(request.headers.get)
    return _answer(*queue_tokens.mint(settings.secret("USER_TOKEN_SECRET"), ttl_s, time.time(), api_key))
