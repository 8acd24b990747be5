"""Outbound HTTP through `workers.fetch`, returning plain Python values.

One function so that timeouts, JSON and transport errors are handled the same way everywhere.
The timeout is an `AbortSignal`, the Workers way (there is no timeout option on fetch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from js import AbortSignal
from workers import fetch


class TransportError(Exception):
    """The request did not get an HTTP answer: refused, reset, DNS, or timed out."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body)


async def request(method: str, url: str, *, headers: dict[str, str] | None = None, json_body: Any = None,
                  timeout_s: float = 10.0) -> HttpResponse:
    all_headers = dict(headers or {})
    body = None
    if json_body is not None:
        body = json.dumps(json_body)
        all_headers.setdefault("Content-Type", "application/json")
    try:
        resp = await fetch(url, method=method, headers=all_headers, body=body,
                           signal=AbortSignal.timeout(int(timeout_s * 1000)))
        data = await resp.bytes()
    except Exception as exc:  # JsException / OSError from the runtime: no HTTP answer at all
        raise TransportError(f"{method} {_redact(url)} failed: {_first_line(exc)}") from None
    return HttpResponse(int(resp.status), bytes(data))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _redact(url: str) -> str:
    """URLs may carry signatures in the query; never put those in errors or logs."""
    return url.split("?", 1)[0]
