"""Request-size limit and the last-resort error answer, as an ASGI layer inside CORS.

Every body the app reads is JSON, so any over 1 MiB is refused with 413 before a route parses it
(checked on Content-Length and again while streaming, since the header can be absent or wrong).
Only methods whose bodies a route reads are limited: a GET's body is never read.
Uploads never pass through here: the entry point streams them to R2. If anything escapes the
app's own error handlers, the client still gets the standard JSON 500 and never a traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from bounds import JSON_BODY_LIMIT, read_decimal
from error_body import error_body

log = logging.getLogger("reel.guard")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _TooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than {limit} bytes")


# The two answers given here, encoded once.
_TOO_LARGE = json.dumps(error_body(413, f"Request body is larger than {JSON_BODY_LIMIT} bytes")).encode()
_INTERNAL = json.dumps(error_body(500, "Internal error")).encode()


async def _send_json(send: Any, status: int, payload: bytes) -> None:
    headers = Headers({"content-type": "application/json", "content-length": str(len(payload))})
    await send({"type": "http.response.start", "status": status, "headers": headers.raw})
    await send({"type": "http.response.body", "body": payload})


class GuardMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = JSON_BODY_LIMIT if scope["method"] in BODY_METHODS else None
        if limit is not None:
            # raw=: a view of the scope's headers, not a copy.
            declared = read_decimal(Headers(raw=scope["headers"]).get("content-length", ""))
            if declared is not None and declared > limit:
                await _send_json(send, 413, _TOO_LARGE)
                return
        seen, started = 0, False

        async def counting_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if limit is not None and seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, _TOO_LARGE)
        except Exception:
            # Starlette re-raises after its 500 handler already answered; answer only if nobody did.
            if not started:
                log.exception("unhandled error outside the app's handlers")
                await _send_json(send, 500, _INTERNAL)
