"""CORS as the outermost ASGI layer, so every response — errors and 500s included — carries it,
with `nosniff` (`security_headers`): one pass over the start message serves both.

Allowed origins come from `CORS_ORIGINS` (a comma list; `*` only when configured so). A preflight
from an allowed origin is answered 204 here and never reaches a route; one from any other origin
gets a 403 JSON error so the mistake is visible in the browser's network tab.
"""

from __future__ import annotations

import json
from typing import Any

from security_headers import NOSNIFF_ASGI
from settings import Settings

ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
ALLOW_HEADERS = "Content-Type, Authorization, X-User-Id, X-API-Key, Idempotency-Key, Range"
EXPOSE_HEADERS = "Content-Length, Content-Range, ETag, Retry-After, X-Total-Count"
MAX_AGE = "600"


def allowed_origin(origins: tuple[str, ...], origin: str | None) -> str | None:
    """The value for Access-Control-Allow-Origin, or None when this origin is not allowed."""
    if "*" in origins:
        return "*"
    if origin and origin.rstrip("/") in origins:
        return origin
    return None


def cors_headers(origins: tuple[str, ...], origin: str | None) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"access-control-allow-methods", ALLOW_METHODS.encode()),
        (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
        (b"vary", b"Origin"),
    ]
    value = allowed_origin(origins, origin)
    if value is not None:
        headers.insert(0, (b"access-control-allow-origin", value.encode("latin-1")))
    return headers


class CORSMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origins = Settings.from_env(scope.get("env")).cors_origins
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        extra = cors_headers(origins, origin) + NOSNIFF_ASGI
        if scope["method"] == "OPTIONS":
            await self._preflight(send, extra, allowed=origin is None or allowed_origin(origins, origin) is not None)
            return

        async def send_with_cors(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in extra}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(send: Any, headers: list[tuple[bytes, bytes]], allowed: bool) -> None:
        if allowed:
            await send({"type": "http.response.start", "status": 204,
                        "headers": headers + [(b"access-control-max-age", MAX_AGE.encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = json.dumps({"error": "This origin is not allowed by CORS_ORIGINS", "code": "origin_not_allowed"})
        await send({"type": "http.response.start", "status": 403,
                    "headers": headers + [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})



def cors_header_dict(env, origin: str | None) -> dict[str, str]:
    """The CORS headers as a dict, for responses built outside the ASGI app."""
    return {k.decode(): v.decode() for k, v in cors_headers(Settings.from_env(env).cors_origins, origin)}
