"""The error answer of the code that runs outside the FastAPI app: the entry point, the object
route and the job object's WebSocket door. Same body as the app's (`error_body`), with
`nosniff` like every answer of the Worker.
"""

from __future__ import annotations

from typing import Any

from workers import Response

from error_body import error_body
from refusals import HTTP
from security_headers import NOSNIFF


def json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    return Response.json(error_body(status, message, code, **extra), status=status,
                         headers={**NOSNIFF, **(headers or {})})


def refusal_error(code: str) -> Any:
    """A refusal of `refusals.HTTP` (e.g. `not_found`) as its standard error answer."""
    status, message = HTTP[code]
    return json_error(status, code, message)
