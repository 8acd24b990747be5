"""CORS_ORIGINS is honoured exactly: a list, or `*` only when configured so."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.cors import CORSMiddleware, allowed_origin


@pytest.mark.parametrize(("configured", "origin", "expected"), [
    (("https://app.example",), "https://app.example", "https://app.example"),
    (("https://app.example",), "https://app.example/", "https://app.example/"),
    (("https://app.example",), "https://evil.example", None),
    (("https://app.example",), "https://app.example.evil.example", None),
    (("https://app.example",), None, None),
    (("*",), "https://anything.example", "*"),
    ((), "https://app.example", None),
])
def test_allowed_origin(configured, origin, expected):
    assert allowed_origin(configured, origin) == expected


async def _call(cors_origins: str, method: str, origin: str | None) -> tuple[int, dict]:
    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    sent = []

    async def send(message):
        sent.append(message)

    headers = [(b"origin", origin.encode())] if origin else []
    scope = {"type": "http", "method": method, "path": "/x", "headers": headers,
             "env": SimpleNamespace(CORS_ORIGINS=cors_origins)}
    await CORSMiddleware(inner)(scope, None, send)
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


async def test_every_response_carries_cors_even_a_500():
    status, headers = await _call("https://a.example, https://b.example", "GET", "https://b.example")
    assert status == 500 and headers["access-control-allow-origin"] == "https://b.example"
    assert headers["vary"] == "Origin"


async def test_preflight():
    status, headers = await _call("https://a.example", "OPTIONS", "https://a.example")
    assert status == 204 and headers["access-control-max-age"] == "600"
    status, headers = await _call("https://a.example", "OPTIONS", "https://z.example")
    assert status == 403 and "access-control-allow-origin" not in headers
    status, headers = await _call("*", "OPTIONS", "https://z.example")
    assert status == 204 and headers["access-control-allow-origin"] == "*"
