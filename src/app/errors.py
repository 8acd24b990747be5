"""One JSON error shape for every error: `{"error": <sentence>, "code": <snake_case>}`.

Client mistakes get 4xx with a clear sentence; anything unexpected gets a generic 500 whose
details go to the log only, never into the response.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from error_body import default_code, error_body
from refusals import HTTP
from settings import MissingSecret

log = logging.getLogger("reel.errors")



class ApiError(StarletteHTTPException):
    """Raise from anywhere in a route to answer `status` with the standard error body.

    An HTTPException so that FastAPI lets it through while it reads a request body.
    """

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 **extra: Any) -> None:
        super().__init__(status, message, headers)
        self.status, self.message = status, message
        self.code = code or default_code(status)
        self.headers, self.extra = headers, extra


def error_response(status: int, message: str, code: str | None = None, headers: dict | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status, message, code, **extra), status_code=status, headers=headers)


def raise_refusal(answer: dict) -> NoReturn:
    """Raise the standard error for a Durable Object's refusal (`refusals.refusal`), by `refusals.HTTP`."""
    extra = {k: v for k, v in answer.items() if k not in ("refused", "message")}
    status, default = HTTP[answer["refused"]]
    raise ApiError(status, answer.get("message") or default, answer["refused"], **extra)


def clean_details(errors: list[dict]) -> list[dict]:
    """Pydantic's field errors without the echoed input or internal context (they can be huge)."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.code, exc.headers, **exc.extra)


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else default_code(exc.status_code)
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = "No such route"
    elif exc.status_code == 413:
        return error_response(413, message, "payload_too_large")
    elif exc.status_code == 405:
        message = "Method not allowed on this route"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = clean_details(exc.errors())
    if any(d["type"] == "json_invalid" for d in details):
        return error_response(400, "Request body is not valid JSON", "invalid_json", details=details)
    return error_response(422, "Request failed validation", "validation_error", details=details)


async def _missing_secret(_: Request, exc: MissingSecret) -> JSONResponse:
    log.error("configuration error: %s", exc)
    return error_response(500, f"Server misconfigured: secret {exc.name} is not set", "config_error")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "Internal error", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(MissingSecret, _missing_secret)
    app.add_exception_handler(Exception, _unexpected)
