"""CORS as the outermost ASGI layer, so every response — errors and 500s included — carries it,
with `nosniff` (`security_headers`): one pass over the start message serves both.

Allowed origins come from `CORS_ORIGINS` (a comma list; `*` only when configured so). A preflight
from an allowed origin is answered 204 here and never reaches a route; one from any other origin
gets a 403 JSON error so the mistake is visible in the browser's network tab.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers

from error_body import error_body
from security_headers import NOSNIFF
from settings import Settings

ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
ALLOW_HEADERS = "Content-Type, Authorization, X-User-Id, X-API-Key, Idempotency-Key, Range, Last-Event-ID"
EXPOSE_HEADERS = "Content-Length, Content-Range, ETag, Retry-After, X-Total-Count"
MAX_AGE = "600"
ALLOW_ORIGIN = "access-control-allow-origin"

# What every answer says whatever its origin (Access-Control-Allow-Origin is added when it is allowed).
_CORS = {
    "access-control-allow-methods": ALLOW_METHODS,
    "access-control-allow-headers": ALLOW_HEADERS,
    "access-control-expose-headers": EXPOSE_HEADERS,
    "vary": "Origin",
}
# Encoded once: per response only the allowed origin's value is encoded. (MutableHeaders.update
# would encode and scan for every name on every response: some 3 µs more per request.)
_EVERY_ANSWER = Headers({**_CORS, **NOSNIFF}).raw
_REPLACED = frozenset(name for name, _ in _EVERY_ANSWER)
_REPLACED_WITH_ORIGIN = _REPLACED | {ALLOW_ORIGIN.encode()}
_PREFLIGHT_OK = Headers({"access-control-max-age": MAX_AGE}).raw
_PREFLIGHT_REFUSED = Headers({"content-type": "application/json"}).raw
_NOT_ALLOWED = json.dumps(error_body(403, "This origin is not allowed by CORS_ORIGINS", "origin_not_allowed")).encode()
_UNSET = object()


def allowed_origin(origins: tuple[str, ...], origin: str | None) -> str | None:
    """The value for Access-Control-Allow-Origin, or None when this origin is not allowed."""
    if "*" in origins:
        return "*"
    if origin and origin.rstrip("/") in origins:
        return origin
    return None


def _answer_headers(allow: str | None) -> list[tuple[bytes, bytes]]:
    """The CORS and nosniff headers of an answer, as ASGI header pairs."""
    if allow is None:
        return _EVERY_ANSWER
    return [*Headers({ALLOW_ORIGIN: allow}).raw, *_EVERY_ANSWER]


class CORSMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app
        # An isolate's `env` is fixed for its life, so its origins are read once, not per request.
        self._env: Any = _UNSET
        self._origins: tuple[str, ...] = ()

    def _allowed(self, env: Any) -> tuple[str, ...]:
        if env is not self._env:
            self._env, self._origins = env, Settings.from_env(env).cors_origins
        return self._origins

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = Headers(raw=scope["headers"]).get("origin")  # raw=: a view, the scope's list is not copied
        allow = allowed_origin(self._allowed(scope.get("env")), origin)
        extra = _answer_headers(allow)
        if scope["method"] == "OPTIONS":
            await _preflight(send, extra, allowed=origin is None or allow is not None)
            return
        replaced = _REPLACED if allow is None else _REPLACED_WITH_ORIGIN

        async def send_with_cors(message: dict) -> None:
            if message["type"] == "http.response.start":
                # Ours win over any the app set under the same names.
                kept = [h for h in message.get("headers", ()) if h[0].lower() not in replaced]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def _preflight(send: Any, headers: list[tuple[bytes, bytes]], allowed: bool) -> None:
    if allowed:
        await send({"type": "http.response.start", "status": 204, "headers": headers + _PREFLIGHT_OK})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 403, "headers": headers + _PREFLIGHT_REFUSED})
    await send({"type": "http.response.body", "body": _NOT_ALLOWED})


def cors_header_dict(env: Any, origin: str | None) -> dict[str, str]:
    """The CORS headers as a dict, for responses built outside the ASGI app."""
    allow = allowed_origin(Settings.from_env(env).cors_origins, origin)
    return dict(_CORS) if allow is None else {ALLOW_ORIGIN: allow, **_CORS}
