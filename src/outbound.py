"""Outbound HTTP as plain Python values: the response, the error, and the `Transport` seam.

A `Transport` sends one request and returns an `HttpResponse`, or raises `TransportError` when no
HTTP answer arrived. Code that calls other services (the RunPod client) takes a transport instead of
importing one, in the manner of httpx's `MockTransport`: the Worker passes `bindings.http.request`
(`workers.fetch`), tests pass one over httpx or an in-process fake. This module is pure Python, so
everything that depends only on it imports on CPython.

The contract every transport keeps:
- `json_body`, when not None, is sent as JSON text with `Content-Type: application/json` (unless
  `headers` sets `Content-Type`); `content`, when not None, is sent as it is (UTF-8: a signed body must
  go out byte for byte); with neither the request has no body;
- redirects are followed (like `fetch`) unless `follow_redirects` is False, when a 3xx is the answer;
  every HTTP status is an `HttpResponse`, never an error;
- `timeout_s` bounds the whole exchange, body included; running out of it is a `TransportError`,
  as are refused or reset connections and DNS failures;
- `TransportError` messages name the method and the URL without its query (which may carry
  signatures) and never contain header values.

`first_line` is how any error from a call elsewhere (a transport, RunPod, another Durable Object)
is put into a message, a log line or a job's `error` field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

# An error line's length: enough for a URL and the runtime's reason, never a whole traceback or body.
ERROR_LINE_CHARS = 300


class TransportError(Exception):
    """The request did not get an HTTP answer: refused, reset, DNS, or timed out."""


def first_line(exc: BaseException) -> str:
    """The error as one bounded line: its message's first line, or its type's name when it has none."""
    lines = str(exc).strip().splitlines()
    return lines[0][:ERROR_LINE_CHARS] if lines else type(exc).__name__


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


class Transport(Protocol):
    """`async (method, url, *, headers, json_body, timeout_s) -> HttpResponse`, per the module's contract."""

    async def __call__(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                       json_body: Any = None, content: str | None = None, timeout_s: float = 10.0,
                       follow_redirects: bool = True) -> HttpResponse: ...
