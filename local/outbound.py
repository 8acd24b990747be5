"""Outbound `fetch` for the stand-in runtime, served by httpx.

Like workerd's input gates, a Durable Object's event lock is released while the object awaits an
outbound request, so other events for that object may run meanwhile (code must not assume
otherwise), and re-taken before the awaiting code continues.
"""

from __future__ import annotations

import contextvars
from http import HTTPMethod
from typing import Any

import httpx

from local.ffi import JsException
from local.http_objects import Headers, Request, Response

# The event lock of the Durable Object whose code is running, if any (set by the DO host).
current_gate: contextvars.ContextVar[Any] = contextvars.ContextVar("current_gate", default=None)

_client: httpx.AsyncClient | None = None


class AbortSignal:
    """`js.AbortSignal.timeout(ms)`: the only use the project has for abort signals."""

    def __init__(self, timeout_ms: float | None) -> None:
        self.timeout_ms = timeout_ms

    @classmethod
    def timeout(cls, ms: float) -> AbortSignal:
        return cls(ms)


def _http_client() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(follow_redirects=True, timeout=None)  # noqa: S113 - per-request AbortSignal
    return _client


async def close_client() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


async def fetch(resource: str | Request, **options: Any) -> Response:
    if isinstance(resource, Request):
        url, method = resource.url, options.get("method", resource.method)
        headers = options.get("headers", resource.headers)
        body = options.get("body") if "body" in options else await resource.bytes()
    else:
        url, method = resource, options.get("method", "GET")
        headers, body = options.get("headers"), options.get("body")
    if isinstance(method, HTTPMethod):
        method = method.value
    if isinstance(body, str):
        body = body.encode()
    signal = options.get("signal")
    timeout = None if signal is None or signal.timeout_ms is None else signal.timeout_ms / 1000
    gate = current_gate.get()
    if gate is not None:
        gate.release()
    try:
        resp = await _http_client().request(
            str(method).upper(), url, headers=Headers(headers).items(), content=body,
            timeout=httpx.Timeout(timeout),
        )
    except httpx.TimeoutException:
        raise JsException("TimeoutError: The operation was aborted due to timeout") from None
    except httpx.HTTPError as exc:
        raise JsException(f"TypeError: fetch failed: {exc}") from None
    finally:
        if gate is not None:
            await gate.acquire()
    out = Response(resp.content, status=resp.status_code, headers=list(resp.headers.multi_items()))
    out.url = str(resp.url)
    return out
