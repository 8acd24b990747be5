"""The Worker's `outbound.Transport`: outbound HTTP through `workers.fetch`, as plain Python values.

One function so that timeouts, JSON and transport errors are handled the same way everywhere.
The timeout is an `AbortSignal`, the Workers way (there is no timeout option on fetch).
"""

from __future__ import annotations

import json
from typing import Any

from js import AbortSignal
from workers import fetch

from outbound import HttpResponse, TransportError, first_line

__all__ = ["HttpResponse", "TransportError", "request"]


async def request(method: str, url: str, *, headers: dict[str, str] | None = None, json_body: Any = None,
                  content: str | None = None, timeout_s: float = 10.0, follow_redirects: bool = True) -> HttpResponse:
    all_headers = dict(headers or {})
    body = content
    if json_body is not None:
        # NaN and Infinity are not JSON: never send them (inputs are refused with them long before).
        body = json.dumps(json_body, allow_nan=False)
        all_headers.setdefault("Content-Type", "application/json")
    try:
        resp = await fetch(url, method=method, headers=all_headers, body=body,
                           redirect="follow" if follow_redirects else "manual",
                           signal=AbortSignal.timeout(int(timeout_s * 1000)))
        data = await resp.bytes()
    except Exception as exc:  # JsException / OSError from the runtime: no HTTP answer at all
        raise TransportError(f"{method} {_redact(url)} failed: {first_line(exc)}") from None
    return HttpResponse(int(resp.status), bytes(data))


def _redact(url: str) -> str:
    """URLs may carry signatures in the query; never put those in errors or logs."""
    return url.split("?", 1)[0]
