"""The one body of every error answer, `{"error": <sentence>, "code": <snake_case>}` (+ extras such as
`details`), built here for the FastAPI app and for the code outside it alike (`worker_errors`). No
runtime import: the Durable Objects and the entry point use it without loading the app.
"""

from __future__ import annotations

from typing import Any

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


def default_code(status: int) -> str:
    """The code of an error that names none of its own."""
    return CODES.get(status, "error")


def error_body(status: int, message: str, code: str | None = None, **extra: Any) -> dict:
    return {"error": message, "code": code or default_code(status), **extra}
