"""FastAPI dependencies that put `auth.identity` in front of routes.

Every route that touches user data depends on `current_user`; server-only routes depend on
`server_identity`; the encode queue's routes on `queue_identity` (a server key or a queue token).
The `Authorization`/`X-API-Key` schemes are declared so /docs can send them.
The dependencies are coroutines although none awaits: FastAPI runs a plain function through
`run_in_threadpool` (inline in Pyodide, but with its wrappers' cost on every request).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from app.deps import get_settings
from app.errors import ApiError
from auth import identity as auth_identity
from auth.identity import AuthError, Identity
from bounds import USER_ID_PATTERN, anchored
from settings import Settings

T = TypeVar("T")

# Declared for OpenAPI only (auto_error=False): resolution itself reads the headers directly.
_api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="Server API key")
_bearer_scheme = HTTPBearer(auto_error=False, description="User token (JWT), queue token (JWT) or server API key")


def _as_api_error(exc: AuthError) -> ApiError:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return ApiError(exc.status, exc.message, exc.code, headers=headers)


# Declared for OpenAPI only: the header is checked by `auth.identity` (400 `invalid_user_id`, not 422).
UserIdHeader = Annotated[str | None, Header(
    alias="X-User-Id", json_schema_extra={"pattern": anchored(USER_ID_PATTERN)},
    description="The user a server API key acts for (required with a key on user routes); with a user token, "
                "it must name the token's user or be absent")]


async def current_identity(
    request: Request,
    settings: Settings = Depends(get_settings),
    _k: str | None = Depends(_api_key_scheme),
    _b: object = Depends(_bearer_scheme),
    _u: UserIdHeader = None,
) -> Identity:
    try:
        return auth_identity.resolve(request.headers.get, settings, time.time())
    except AuthError as exc:
        raise _as_api_error(exc) from None


def _checked(rule: Callable[[Identity], T], identity: Identity) -> T:
    try:
        return rule(identity)
    except AuthError as exc:
        raise _as_api_error(exc) from None


async def current_user(identity: Identity = Depends(current_identity)) -> str:
    """The user id the caller acts for (401 without credential, 400 for a server key without X-User-Id)."""
    return _checked(auth_identity.require_user, identity)


async def server_identity(identity: Identity = Depends(current_identity)) -> Identity:
    return _checked(auth_identity.require_server, identity)


async def queue_identity(identity: Identity = Depends(current_identity)) -> Identity:
    return _checked(auth_identity.require_queue_access, identity)
