"""FastAPI dependencies that put `auth.identity` in front of routes.

Every route that touches user data depends on `current_user`; server-only routes depend on
`server_identity`. The `Authorization`/`X-API-Key` schemes are declared so /docs can send them.
"""

from __future__ import annotations

import time

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from app.deps import get_settings
from app.errors import ApiError
from auth import identity as auth_identity
from auth.identity import AuthError, Identity
from settings import Settings

# Declared for OpenAPI only (auto_error=False): resolution itself reads the headers directly.
_api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="Server API key")
_bearer_scheme = HTTPBearer(auto_error=False, description="User token (JWT) or server API key")


def _as_api_error(exc: AuthError) -> ApiError:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return ApiError(exc.status, exc.message, exc.code, headers=headers)


def current_identity(
    request: Request,
    settings: Settings = Depends(get_settings),
    _k: str | None = Depends(_api_key_scheme),
    _b: object = Depends(_bearer_scheme),
) -> Identity:
    try:
        return auth_identity.resolve(request.headers.get, settings, time.time())
    except AuthError as exc:
        raise _as_api_error(exc) from None


def current_user(identity: Identity = Depends(current_identity)) -> str:
    """The user id the caller acts for (401 without credential, 400 for a server key without X-User-Id)."""
    try:
        return auth_identity.require_user(identity)
    except AuthError as exc:
        raise _as_api_error(exc) from None


def server_identity(identity: Identity = Depends(current_identity)) -> Identity:
    try:
        return auth_identity.require_server(identity)
    except AuthError as exc:
        raise _as_api_error(exc) from None
