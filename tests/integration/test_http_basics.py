"""The HTTP surface every route shares: health, errors, CORS, limits, docs."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.conftest import ORIGIN, put_object, server_headers, signed_callback_path

MAX_INT = 2**53 - 2  # bounds.MAX_INT
OVERLAY = {"project_id": 1, "input_key": "working_videos/none.mp4",
           "params": {"highlight_regions": [], "effect_type": "blur"}}
JSON = {**server_headers("alice"), "Content-Type": "application/json"}


# Every JSON route, with a body that passes the JSON rules; each case below breaks one rule.
JSON_ROUTES = [
    ("/api/auth/token", '{"user_id": "alice", "ttl_s": 600, "x": %s}'),
    ("/api/export/overlay/start", '{"project_id": 1, "input_key": "a.mp4", "params": {"effect_type": "dim", '
                                  '"highlight_regions": [], "x": %s}}'),
    ("/api/storage/upload-url", '{"key": "a.mp4", "x": %s}'),
    (signed_callback_path("nosuchjob"), '{"status": "progress", "x": %s}'),
]
BROKEN = [
    ("NaN", "invalid_json"), ("Infinity", "invalid_json"), ("-Infinity", "invalid_json"),
    (str(MAX_INT + 1), "number_out_of_range"), (str(-MAX_INT - 1), "number_out_of_range"),
    ("1e400", "number_out_of_range"), ("1e300", "number_out_of_range"), ("9" * 5000, "number_out_of_range"),
    ("[" * 33 + "]" * 33, "json_too_deep"), ("[" * 100_000 + "]" * 100_000, "json_too_deep"),
    ('{"a":' * 50_000 + "1" + "}" * 50_000, "json_too_deep"),
]


def test_health(client: httpx.Client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "env": "test"}


def test_header_values_beyond_latin_1_or_not_utf8_are_no_server_error(client: httpx.Client):
    for raw in ("€ and ✓".encode(), b"\xff\xfe not utf-8"):
        r = client.get("/health", headers={"X-Note": raw})
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        r = client.get("/api/export/jobs", headers={"X-User-Id": raw})
        # X-User-Id is checked before any credential: not 1-64 of [A-Za-z0-9_-] is 400 whatever else came.
        assert r.status_code == 400 and r.json()["code"] == "invalid_user_id", r.text


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


@pytest.mark.parametrize(("value", "code"), BROKEN, ids=[b[0][:12] for b in BROKEN])
@pytest.mark.parametrize(("path", "template"), JSON_ROUTES, ids=[r[0].split("?")[0] for r in JSON_ROUTES])
def test_every_json_body_follows_the_json_rules(client, path, template, value, code):
    r = client.post(path, content=(template % value).encode(), headers=JSON)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == code and "Traceback" not in r.text


def test_the_bounds_themselves_are_accepted_end_to_end(client):
    # The largest integers reach the job's object, its SQL and RunPod: the runtime must carry them.
    put_object(client, "alice", "working_videos/bounds.mp4", b"video")
    body = {"project_id": MAX_INT, "input_key": "working_videos/bounds.mp4",
            "params": {**OVERLAY["params"], "x": [-MAX_INT, 5e-324, "[" * 40], "y": [[[[[[[[1]]]]]]]]}}
    r = client.post("/api/export/overlay/start", json=body, headers=JSON)
    assert r.status_code == 202, r.text
    status = client.get(f"/api/export/status/{r.json()['job_id']}", headers=server_headers("alice")).json()
    assert status["project_id"] == MAX_INT


def test_named_fields_carry_their_bounds(client):
    region = {"start_frame": 0, "end_frame": MAX_INT + 1, "x": 0, "y": 0, "radius_x": 1, "radius_y": 1}
    for body, expected in (({**OVERLAY, "project_id": -1}, (422, "validation_error")),
                           ({**OVERLAY, "project_id": True}, (422, "validation_error")),
                           ({**OVERLAY, "project_id": 1.5}, (422, "validation_error")),
                           # Any number beyond ±(2^53 − 2), named field or not, fails the JSON rules first.
                           ({**OVERLAY, "params": {"effect_type": "dim", "highlight_regions": [region]}},
                            (400, "number_out_of_range"))):
        r = client.post("/api/export/overlay/start", content=json.dumps(body).replace(
            str(MAX_INT + 1), str(MAX_INT + 1) + ".0"), headers=JSON)
        assert (r.status_code, r.json()["code"]) == expected, r.text
    # 3.0 is the integer 3 (JSON has one number type); the start goes on to the input check.
    r = client.post("/api/export/overlay/start", json={**OVERLAY, "project_id": 3.0}, headers=JSON)
    assert r.status_code == 400 and r.json()["code"] == "input_not_found"


def test_a_body_that_is_not_json_is_415(client):
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {**server_headers(), **({"Content-Type": ctype} if ctype else {})}
        r = client.post("/api/auth/token", content=b'{"user_id": "alice"}', headers=headers)
        assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type", ctype
    r = client.post("/api/auth/token", content=b'{"user_id": "alice"}',
                    headers={**server_headers(), "Content-Type": "application/vnd.api+json; charset=utf-8"})
    assert r.status_code == 200


def test_integer_query_parameters_are_bounded(client):
    h = server_headers("alice")
    assert client.get("/api/downloads", params={"offset": MAX_INT}, headers=h).status_code == 200
    for offset in (MAX_INT + 1, "9" * 30, "9" * 5000, -1, "1e3", "\u0661"):
        r = client.get("/api/downloads", params={"offset": offset}, headers=h)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", (offset, r.text)
    for limit in (0, 101, "9" * 5000):
        assert client.get("/api/export/jobs", params={"limit": limit}, headers=h).status_code == 422


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_cursor_never_carries_an_unsafe_integer_to_the_index(client):
    h = server_headers("alice")
    for cursor in (_cursor([2**70, "a"]), _cursor([MAX_INT + 1, "a"]), _cursor([1e300, "a"]),
                   _cursor([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
                   "%%%", "x" * 500):
        r = client.get("/api/export/jobs", params={"cursor": cursor}, headers=h)
        assert r.status_code == 400 and r.json()["code"] == "invalid_cursor", (cursor, r.text)
    assert client.get("/api/export/jobs", params={"cursor": _cursor([MAX_INT, "a"])}, headers=h).status_code == 200


def test_methods_the_sdk_cannot_name_are_405_not_500(client):
    r = client.request("QUERY", "/health")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD", r.text
    assert r.json()["code"] == "method_not_allowed" and "Traceback" not in r.text
    r = client.request("QUERY", "/api/export/status/abc", headers={"Origin": ORIGIN})
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert r.headers["access-control-allow-origin"] == ORIGIN
    r = client.request("PROPFIND", "/health")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    r = client.request("QUERY", "/api/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_openapi_states_every_answer_and_bound(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert set(schemas["ErrorBody"]["required"]) == {"error", "code"}
    assert "HTTPValidationError" not in schemas
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if method == "parameters" or path == "/health":
                continue
            statuses = set(op["responses"])
            assert {"500"} <= statuses or path.startswith("/api/storage/object"), (method, path)
            for status, answer in op["responses"].items():
                if status.startswith(("4", "5")):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/ErrorBody", (method, path, status)
            if "requestBody" in op and not path.startswith("/api/storage/object"):
                assert {"400", "413", "422"} <= statuses, (method, path)
    overlay = spec["paths"]["/api/export/overlay/start"]["post"]
    assert {"400", "401", "403", "409", "413", "415", "422", "500"} <= set(overlay["responses"])
    assert "input_not_found" in overlay["description"] and "end_time > start_time" in overlay["description"]
    start = schemas["OverlayStart"]["properties"]["project_id"]
    assert start["maximum"] == MAX_INT and start["minimum"] == 0
    user_header = next(p for p in overlay["parameters"] if p["name"] == "X-User-Id")
    assert user_header["schema"]["pattern"] == "^(?:[A-Za-z0-9_-]{1,64})$"
    assert "/api/storage/object/{key}" in spec["paths"] and "/api/jobs/{job_id}/ws" not in spec["paths"]
    events = spec["paths"]["/api/export/jobs/{job_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"] and {"204", "422", "503"} <= set(events["responses"])
    assert {p["name"] for p in events["parameters"]} >= {"since", "Last-Event-ID", "X-User-Id"}
    status = spec["paths"]["/api/export/status/{job_id}"]["get"]
    assert {p["name"] for p in status["parameters"]} >= {"wait_s", "after_seq"} and "503" in status["responses"]
