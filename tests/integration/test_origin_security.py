"""The Worker's origin serves only what it means to (issue 17), on workerd over real HTTP.

An attacker with a user token tries to store a page and have it served from the API's origin;
every page, object and API answer carries the headers that say what it is; HEAD is served
wherever GET is; callbacks follow the documented Content-Type rule.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import server_headers, signed_callback_path, token_headers, write_user_blob

SCRIPT = b"<script>fetch('/x?'+JSON.stringify(localStorage))</script>"
PAGES = ["/", "/add-jobs/", "/view-jobs/", "/docs"]


def upload_url(client: httpx.Client, key: str, **extra) -> httpx.Response:
    return client.post("/api/storage/upload-url", json={"key": key, **extra}, headers=token_headers("mallory"))


def download_url(client: httpx.Client, key: str) -> str:
    r = client.get("/api/storage/presigned-url", params={"key": key}, headers=token_headers("mallory"))
    assert r.status_code == 200, r.text
    return r.json()["url"]


def assert_served_as_data(r: httpx.Response, inline: bool, file_name: str) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert "sandbox" in [d.strip().split(" ")[0] for d in csp.split(";")], csp
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("inline;" if inline else "attachment;"), disposition
    assert f'filename="{file_name}"' in disposition, disposition


def test_the_four_steps_end_with_data_not_a_page(client):
    # 1. An upload URL for a video.
    r = upload_url(client, "working_videos/v.mp4", content_type="video/mp4")
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["headers"] == {"Content-Type": "video/mp4"}
    # 2. A PUT of a page to it is refused, and nothing is stored.
    put = httpx.put(up["url"], content=SCRIPT, headers={"Content-Type": "text/html"})
    assert put.status_code == 415, put.text
    assert put.json()["code"] == "content_type_mismatch" and "video/mp4" in put.json()["error"]
    assert put.headers["x-content-type-options"] == "nosniff"
    missing = httpx.put(up["url"], content=SCRIPT)  # no Content-Type at all
    assert missing.status_code == 415 and missing.json()["code"] == "content_type_mismatch"
    url = download_url(client, "working_videos/v.mp4")
    assert httpx.get(url).status_code == 404
    # Exactly the bound value, as R2 holds a SigV4 upload to it: parameters or another case are refused too.
    for near in ("Video/MP4", "video/mp4; codecs=avc1"):
        assert httpx.put(up["url"], content=SCRIPT, headers={"Content-Type": near}).status_code == 415, near
    put = httpx.put(up["url"], content=SCRIPT, headers=up["headers"])
    assert put.status_code == 200, put.text
    # 3 + 4. The signed GET serves them as a video: nosniff and a sandbox CSP, never text/html.
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == SCRIPT
    assert got.headers["content-type"] == "video/mp4"
    assert_served_as_data(got, inline=True, file_name="v.mp4")
    assert got.headers["content-security-policy"] == "sandbox"
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert_served_as_data(head, inline=True, file_name="v.mp4")


def test_a_stored_page_is_an_attachment_under_a_sandbox(client):
    # However it got there (an object stored before the type rule, a service write), a page in
    # storage is served as a download that cannot run script on this origin.
    for key, ctype in (("notes/page.html", "text/html"), ("notes/drawing.svg", "image/svg+xml"),
                       ("notes/odd name \"é\".js", "text/javascript")):
        write_user_blob(client, "mallory", key, SCRIPT, content_type=ctype)
        got = httpx.get(download_url(client, key))
        assert got.status_code == 200 and got.content == SCRIPT
        # Not a type uploads may have: opaque bytes, which no <script src> or stylesheet link will run.
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["content-security-policy"] == "default-src 'none'; sandbox"
        safe = {"notes/page.html": "page.html", "notes/drawing.svg": "drawing.svg"}.get(key, "odd name ___.js")
        assert_served_as_data(got, inline=False, file_name=safe)
        if key.endswith(".js"):
            assert "filename*=UTF-8''odd%20name%20%22%C3%A9%22.js" in got.headers["content-disposition"]
        ranged = httpx.get(download_url(client, key), headers={"Range": "bytes=0-3"})
        assert ranged.status_code == 206
        assert_served_as_data(ranged, inline=False, file_name=safe)


@pytest.mark.parametrize(("requested", "key", "status", "bound"), [
    ("text/html", "a.mp4", 400, None),
    ("image/svg+xml", "a.svg", 400, None),
    ("application/javascript", "a.mp4", 400, None),
    ("text/plain; charset=utf-8", "a.txt", 400, None),
    ("video/webm", "a.webm", 200, "video/webm"),
    ("IMAGE/PNG", "a.png", 200, "image/png"),
    ("application/vnd.sqlite3", "backup.sqlite", 200, "application/vnd.sqlite3"),
    (None, "clips/a.MOV", 200, "video/quicktime"),
    (None, "a.sqlite", 200, "application/vnd.sqlite3"),
    (None, "a.html", 200, "application/octet-stream"),
    (None, "noextension", 200, "application/octet-stream"),
])
def test_upload_types_are_limited_and_always_bound(client, requested, key, status, bound):
    r = upload_url(client, key, **({"content_type": requested} if requested else {}))
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["code"] == "content_type_not_allowed" and "video/*" in r.json()["error"]
    else:
        assert r.json()["headers"] == {"Content-Type": bound}


def test_an_octet_stream_upload_is_served_as_an_attachment(client):
    up = upload_url(client, "a.html").json()
    assert httpx.put(up["url"], content=SCRIPT, headers=up["headers"]).status_code == 200
    got = httpx.get(download_url(client, "a.html"))
    assert got.headers["content-type"] == "application/octet-stream"
    assert_served_as_data(got, inline=False, file_name="a.html")


def test_a_put_url_cannot_be_rebound_to_another_type(client):
    up = upload_url(client, "b.mp4", content_type="video/mp4").json()
    forged = up["url"].replace("ct=video%2Fmp4", "ct=text%2Fhtml")
    assert forged != up["url"]
    r = httpx.put(forged, content=SCRIPT, headers={"Content-Type": "text/html"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    dropped = up["url"].replace("ct=video%2Fmp4&", "")
    assert httpx.put(dropped, content=SCRIPT, headers={"Content-Type": "video/mp4"}).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_a_strict_csp_and_cannot_be_framed(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = {d.strip().split(" ")[0]: d.strip().split(" ")[1:] for d in r.headers["content-security-policy"].split(";")}
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    # Every script is a file of this origin: no <script> element without a src.
    scripts = re.findall(r"<script\b([^>]*)>", r.text, re.IGNORECASE)
    assert scripts and all(re.search(r"\bsrc=", attrs) for attrs in scripts), scripts


def test_the_headers_file_itself_is_not_served(client):
    assert client.get("/_headers").status_code == 404


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("GET", "/health", {}),
    ("GET", "/openapi.json", {}),
    ("GET", "/api/export/jobs", server_headers("alice")),
    ("GET", "/api/nothing-here", {}),
    ("QUERY", "/health", {}),
    ("GET", "/api/storage/object/alice/x.mp4?exp=1&sig=00", {}),
    ("GET", "/api/jobs/abc/ws", {}),
    ("POST", "/api/auth/token", {}),
])
def test_every_api_answer_is_nosniff(client, method, path, headers):
    r = client.request(method, path, headers=headers)
    assert r.headers["x-content-type-options"] == "nosniff", (r.status_code, r.text)


@pytest.mark.parametrize(("path", "headers"), [
    ("/health", {}),
    ("/openapi.json", {}),
    ("/api/export/jobs", server_headers("alice")),
    ("/api/jobs/stats", server_headers()),
    ("/api/export/jobs", {}),  # an error is HEAD-able too: 401 with no body
])
def test_head_is_served_wherever_get_is(client, path, headers):
    get, head = client.get(path, headers=headers), client.head(path, headers=headers)
    assert head.status_code == get.status_code and head.content == b""
    for name in ("content-type", "x-content-type-options", "www-authenticate"):
        assert head.headers.get(name) == get.headers.get(name), name
    assert head.headers["content-length"] == str(len(get.content))


def test_head_is_not_allowed_where_get_is_not(client):
    r = client.head("/api/auth/token", headers=server_headers())
    assert r.status_code == 405 and "POST" in r.headers["allow"]


def test_head_never_claims_an_encode_job(client):
    # A GET on the claim takes a job; a HEAD there (curl -I, a link checker) must not.
    queue = {"queue": "head-probe"}
    assert client.post("/api/jobs", params=queue, json={"file_name": "a.mp4"}, headers=server_headers()).status_code == 201
    r = client.head("/api/jobs/claim", params=queue, headers=server_headers())
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    stats = client.get("/api/jobs/stats", params=queue, headers=server_headers()).json()
    assert stats["pending"] == 1 and stats["in_progress"] == 0, stats


def test_callbacks_follow_the_content_type_rule(client):
    body = b'{"status": "progress", "progress": 5}'
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = client.post(signed_callback_path("nosuchjob"), content=body, headers={"Content-Type": ctype})
        assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type", ctype
    # The signature is checked first: a stranger learns nothing from the type rule.
    r = client.post("/api/runpod/callback/nosuchjob?sig=00", content=body, headers={"Content-Type": "text/plain"})
    assert r.status_code == 401
    # No Content-Type at all is read as JSON (RunPod's sender is not ours), here answered 404: no such job.
    r = client.post(signed_callback_path("nosuchjob"), content=body)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.post(signed_callback_path("nosuchjob"), content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 404
