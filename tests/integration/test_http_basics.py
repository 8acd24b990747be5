"""The HTTP surface every route shares: health, errors, CORS, limits, docs."""

from __future__ import annotations

import httpx

from tests.conftest import ORIGIN, server_headers


def test_health(client: httpx.Client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "env": "test"}


def test_unknown_route_and_wrong_method_are_json_errors(client: httpx.Client):
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json() == {"error": "No such route", "code": "not_found"}
    r = client.delete("/health")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_preflight_from_allowed_origin(client: httpx.Client):
    r = client.options("/api/export/overlay/start", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    for header in ("Content-Type", "Authorization", "X-User-Id", "X-API-Key", "Idempotency-Key"):
        assert header in r.headers["access-control-allow-headers"]


def test_preflight_from_other_origin_is_refused(client: httpx.Client):
    r = client.options("/health", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 403 and r.json()["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in r.headers


def test_cors_headers_on_errors_too(client: httpx.Client):
    for r in (client.get("/api/nope", headers={"Origin": ORIGIN}),
              client.get("/api/export/jobs", headers={"Origin": ORIGIN}),
              client.post("/api/auth/token", content=b"{", headers={"Origin": ORIGIN, **server_headers()})):
        assert r.status_code >= 400
        assert r.headers["access-control-allow-origin"] == ORIGIN
    r = client.get("/health", headers={"Origin": "http://evil.test"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_bad_json_and_wrong_types(client: httpx.Client):
    h = {**server_headers("alice"), "Content-Type": "application/json"}
    r = client.post("/api/export/overlay/start", content=b"{not json", headers=h)
    assert r.status_code == 400 and r.json()["code"] == "invalid_json"
    r = client.post("/api/export/overlay/start", content=b"[1, 2]", headers=h)
    assert r.status_code == 422
    r = client.post("/api/export/overlay/start", json={"project_id": "one", "input_key": 5, "params": []}, headers=h)
    assert r.status_code == 422 and r.json()["details"]
    r = client.post("/api/export/overlay/start", json={}, headers=h)
    assert r.status_code == 422
    assert all("Traceback" not in x for x in (r.text,))


def test_huge_body_is_413(client: httpx.Client):
    big = b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    r = client.post("/api/export/overlay/start", content=big,
                    headers={**server_headers("alice"), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

    def chunks():  # no Content-Length: the limit holds while streaming too
        for _ in range(20):
            yield b"x" * 65536

    r = client.post("/api/export/overlay/start", content=chunks(),
                    headers={**server_headers("alice"), "Content-Type": "application/json"})
    assert r.status_code == 413


def test_openapi_and_docs(client: httpx.Client):
    spec = client.get("/openapi.json").json()
    for path in ("/health", "/api/auth/token", "/api/export/overlay/start", "/api/export/framing/start",
                 "/api/export/annotate/start", "/api/export/jobs",
                 "/api/storage/presigned-url", "/api/storage/upload-url", "/api/runpod/callback/{job_id}"):
        assert path in spec["paths"], path
    overlay = spec["paths"]["/api/export/overlay/start"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in overlay["parameters"]]
    assert "OverlayParams" in spec["components"]["schemas"]
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
