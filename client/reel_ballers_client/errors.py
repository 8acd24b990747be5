"""Typed errors: every error answer of the API becomes an exception carrying its `code`.

The API answers every error as `{"error": <sentence>, "code": <snake_case>}`; the exception's
class says what kind of mistake it is (so a caller can catch `NotFound` without reading codes)
and `code` says exactly which (e.g. `input_not_found`, `idempotency_key_reused`).
"""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """An error answer from reel-ballers-api."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.body = body or {}


class InvalidRequest(ApiError):
    """400, 413, 415 or 422: the request itself is wrong; `body["details"]` names the fields for 422."""


class Unauthorized(ApiError):
    """401: no credential, or not a valid one."""


class Forbidden(ApiError):
    """403: a valid credential that may not do this."""


class NotFound(ApiError):
    """404: no such job (or another user's)."""


class Conflict(ApiError):
    """409: e.g. `already_finished`, `idempotency_key_reused`."""


class ServerError(ApiError):
    """5xx: the service could not answer; retrying later may work."""


class TransportError(Exception):
    """The service could not be reached, or did not answer in time."""


_BY_STATUS: dict[int, type[ApiError]] = {400: InvalidRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
                                         409: Conflict, 413: InvalidRequest, 415: InvalidRequest, 422: InvalidRequest}


def raise_for_answer(response: httpx.Response) -> None:
    """Raise the typed error an error answer stands for; do nothing for a success."""
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or "http_error")
    message = str(body.get("error") or response.reason_phrase or "error")
    kind = _BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else ApiError)
    raise kind(response.status_code, code, message, body)
