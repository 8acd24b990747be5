"""The route class of every FastAPI route: request bodies are read by the service's JSON rules.

FastAPI parses a JSON body with `json.loads`, which accepts NaN and Infinity, integers of any size
and nesting deep enough to raise RecursionError. This route class gives each handler a request
whose `json()` is `bounds.parse_json` instead (400 with the rule's code), and refuses a body sent
without a JSON Content-Type (415) before any of it is read: FastAPI would otherwise validate the raw
bytes and answer a puzzling 422.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

import bounds
from app.errors import ApiError


def is_json_content_type(value: str) -> bool:
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def require_json(content_type: str | None, absent_is_json: bool = False) -> None:
    """Raise the 415 for a body whose Content-Type is not JSON (or absent, unless `absent_is_json`)."""
    if content_type is None and absent_is_json:
        return
    if content_type is None or not is_json_content_type(content_type):
        raise ApiError(415, "The request body must be JSON (Content-Type: application/json)", "unsupported_media_type")


class BoundedJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = bounds.parse_json(await self.body())
            except bounds.JsonRejected as exc:
                raise ApiError(400, str(exc), exc.code) from None
        return self._json


class BoundedJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def bounded(request: Request) -> Response:
            if takes_body:
                require_json(request.headers.get("content-type"))
            return await handler(BoundedJsonRequest(request.scope, request.receive))

        return bounded
