"""CORS_ORIGINS is honoured exactly: a list, or `*` only when configured so; every answer carries CORS
and nosniff, the guard's 413 and last-resort 500 included."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from app.cors import CORSMiddleware, allowed_origin, cors_header_dict
from app.guard import GuardMiddleware
from bounds import JSON_BODY_LIMIT


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


async def _run(app, method: str = "GET", headers: list | None = None, body: bytes = b"") -> tuple[int, dict, bytes]:
    """Run an ASGI app once; the status, the headers (names lower-cased, repeats joined) and the body."""
    sent, delivered = [], False

    async def receive():
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/x", "headers": headers or [],
             "env": SimpleNamespace(CORS_ORIGINS="https://a.example")}
    await app(scope, receive, send)
    pairs = [(k.decode(), v.decode()) for k, v in sent[0]["headers"]]
    seen = {}
    for k, v in pairs:
        seen.setdefault(k, []).append(v)
    return sent[0]["status"], {k: ", ".join(v) for k, v in seen.items()}, b"".join(m.get("body", b"") for m in sent[1:])


async def test_nosniff_on_every_answer_and_ours_replace_the_apps():
    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"vary", b"Accept"), (b"x-content-type-options", b"other"), (b"etag", b'"1"')]})
        await send({"type": "http.response.body", "body": b"{}"})

    status, headers, _ = await _run(CORSMiddleware(inner), headers=[(b"origin", b"https://a.example")])
    assert status == 200 and headers["x-content-type-options"] == "nosniff" and headers["vary"] == "Origin"
    assert headers["etag"] == '"1"' and headers["access-control-allow-origin"] == "https://a.example"


async def test_a_refused_preflight_is_the_standard_error_with_nosniff():
    status, headers, body = await _run(CORSMiddleware(None), "OPTIONS", [(b"origin", b"https://z.example")])
    assert status == 403 and headers["x-content-type-options"] == "nosniff"
    assert headers["content-type"] == "application/json" and "access-control-allow-origin" not in headers
    assert json.loads(body) == {"error": "This origin is not allowed by CORS_ORIGINS", "code": "origin_not_allowed"}


async def test_origins_are_read_once_per_env():
    env = SimpleNamespace(CORS_ORIGINS="https://a.example")
    middleware = CORSMiddleware(None)
    assert middleware._allowed(env) == ("https://a.example",)
    env.CORS_ORIGINS = "https://b.example"  # never happens to a live env: shows the first reading is kept
    assert middleware._allowed(env) == ("https://a.example",)
    assert middleware._allowed(SimpleNamespace(CORS_ORIGINS="https://b.example")) == ("https://b.example",)


def test_cors_header_dict():
    env = SimpleNamespace(CORS_ORIGINS="https://a.example")
    allowed = cors_header_dict(env, "https://a.example")
    assert next(iter(allowed)) == "access-control-allow-origin" and allowed["vary"] == "Origin"
    assert "access-control-allow-origin" not in cors_header_dict(env, "https://z.example")
    assert set(cors_header_dict(env, None)) == {"access-control-allow-methods", "access-control-allow-headers",
                                                 "access-control-expose-headers", "vary"}


async def _echo(scope, receive, send):
    """Reads the whole body, as a route does, then answers 200."""
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


TOO_LARGE = {"error": f"Request body is larger than {JSON_BODY_LIMIT} bytes", "code": "payload_too_large"}


async def test_guard_refuses_a_declared_or_streamed_large_body_but_not_a_gets():
    app = CORSMiddleware(GuardMiddleware(_echo))
    declared = [(b"content-length", str(JSON_BODY_LIMIT + 1).encode())]
    status, headers, body = await _run(app, "POST", declared)
    assert status == 413 and json.loads(body) == TOO_LARGE and headers["x-content-type-options"] == "nosniff"
    assert headers["content-length"] == str(len(body))
    status, _, body = await _run(app, "PUT", body=b"x" * (JSON_BODY_LIMIT + 1))  # no Content-Length
    assert status == 413 and json.loads(body) == TOO_LARGE
    assert (await _run(app, "GET", declared, b"x" * (JSON_BODY_LIMIT + 1)))[0] == 200
    assert (await _run(app, "POST", [(b"content-length", b"2")], b"{}"))[0] == 200


async def test_guard_answers_the_standard_500_when_nothing_else_did():
    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    status, headers, body = await _run(CORSMiddleware(GuardMiddleware(broken)))
    assert status == 500 and json.loads(body) == {"error": "Internal error", "code": "internal_error"}
    assert headers["x-content-type-options"] == "nosniff" and headers["vary"] == "Origin"
