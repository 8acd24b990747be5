"""Storage URLs through the Worker: upload and download with Worker-signed URLs, and key rules."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest

from storage import signed_urls
from tests.conftest import SECRETS, put_object, server_headers, token_headers, write_user_blob

BAD_KEYS = ["/abs.mp4", "../bob/x.mp4", "a/../../bob/x.mp4", "a//b.mp4", "./a.mp4", "a/.", "a\\b.mp4",
            "a\x00b", "a\nb", "", "k" * 1100]


def upload_url(client, user, key, **extra):
    return client.post("/api/storage/upload-url", json={"key": key, **extra}, headers=token_headers(user))


def test_round_trip_with_range_and_metadata(client):
    data = bytes(range(256)) * 40
    r = upload_url(client, "alice", "working_videos/clip one+two~%.mp4", content_type="video/mp4")
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["method"] == "PUT" and info["headers"] == {"Content-Type": "video/mp4"}
    assert info["expires_at"].endswith("Z")
    assert httpx.put(info["url"], content=data, headers=info["headers"]).status_code == 200

    r = client.get("/api/storage/presigned-url", params={"key": "working_videos/clip one+two~%.mp4"},
                   headers=token_headers("alice"))
    url = r.json()["url"]
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "video/mp4" and got.headers["content-length"] == str(len(data))
    assert got.headers["etag"].startswith('"')
    part = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    tail = httpx.get(url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    assert httpx.get(url, headers={"Range": f"bytes={len(data) + 5}-"}).status_code == 416
    head = httpx.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def _with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())))


def test_signatures_are_checked(client):
    put_object(client, "alice", "working_videos/s.mp4", b"secret video")
    url = client.get("/api/storage/presigned-url", params={"key": "working_videos/s.mp4"},
                     headers=token_headers("alice")).json()["url"]
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    assert httpx.get(url).status_code == 200
    tampered = [
        _with_query(url, sig=sig[:-1] + ("0" if sig[-1] != "0" else "1")),
        _with_query(url, exp=str(int(time.time()) + 99999)),
        url.replace("alice/working_videos/s.mp4", "bob/working_videos/s.mp4"),
        url.split("?")[0],
        _with_query(url, sig=""),
    ]
    for bad in tampered:
        r = httpx.get(bad)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", bad
    # A GET URL does not allow a PUT.
    assert httpx.put(url, content=b"overwrite").status_code == 403
    assert httpx.get(url).content == b"secret video"


def test_numeric_strings_are_bounded_before_conversion(client):
    # No credential is needed to reach a signed URL's checks: odd numbers there are a 403, never a 500.
    data = b"0123456789"
    put_object(client, "alice", "working_videos/n.mp4", data)
    url = client.get("/api/storage/presigned-url", params={"key": "working_videos/n.mp4"},
                     headers=token_headers("alice")).json()["url"]
    for exp in ("9" * 5000, "%C2%B2", "%D9%A1%D9%A0", "1e3", "-1", "0x10"):
        r = httpx.get(_with_query(url, exp=exp))
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (exp, r.text)
    # A Range whose numbers are longer than any size is unsatisfiable or whole, never an error.
    assert httpx.get(url, headers={"Range": "bytes=" + "9" * 5000 + "-"}).status_code == 416
    tail = httpx.get(url, headers={"Range": "bytes=-" + "9" * 5000})
    assert tail.status_code == 206 and tail.content == data
    for odd in ("bytes=\u0661-".encode(), b"bytes=0-1,3-4", b"bytes=1-2 x"):  # forms not served: the whole object
        r = httpx.get(url, headers={"Range": odd})
        assert r.status_code == 200 and r.content == data, odd


def test_unknown_methods_on_object_urls(client):
    url = client.get("/api/storage/presigned-url", params={"key": "working_videos/n.mp4"},
                     headers=token_headers("alice")).json()["url"]
    r = httpx.request("QUERY", url)
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, PUT" and "Traceback" not in r.text


def test_expired_url(client):
    put_object(client, "alice", "working_videos/e.mp4", b"x")
    # The same URL the Worker would sign, already past its `exp` (signed here with the test's own secret,
    # instead of waiting out the shortest expiry): refused; a moment before it ran out, served.
    key, secret = "alice/working_videos/e.mp4", SECRETS["URL_SIGNING_SECRET"]
    expired = signed_urls.sign(secret, str(client.base_url), key, "GET", int(time.time()) - 1)
    live = signed_urls.sign(secret, str(client.base_url), key, "GET", int(time.time()) + 60)
    r = httpx.get(expired)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert httpx.get(live).content == b"x"


def test_missing_object_and_put_rules(client):
    url = client.get("/api/storage/presigned-url", params={"key": "nothing/here.mp4"},
                     headers=token_headers("alice")).json()["url"]
    r = httpx.get(url)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    up = upload_url(client, "alice", "working_videos/chunked.mp4").json()

    def stream():
        yield b"no length"

    r = httpx.put(up["url"], content=stream())
    assert r.status_code == 411 and r.json()["code"] == "length_required"
    assert httpx.delete(up["url"]).status_code == 405


@pytest.mark.parametrize("key", BAD_KEYS, ids=[repr(k)[:20] for k in BAD_KEYS])
def test_traversal_and_bad_keys_on_every_key_route(client, key):
    # Storage keys are checked by the key rules alone: 400 invalid_key, the empty and the over-long one too.
    # A start's input_key has schema bounds first (1-900 characters, 422), then the key rules (docs/api.md, "Bounds").
    r = client.get("/api/storage/presigned-url", params={"key": key}, headers=token_headers("alice"))
    assert (r.status_code, r.json()["code"]) == (400, "invalid_key"), r.text
    r = upload_url(client, "alice", key)
    assert (r.status_code, r.json()["code"]) == (400, "invalid_key"), r.text
    body = {"project_id": 1, "input_key": key, "params": {"highlight_regions": [], "effect_type": "blur"}}
    r = client.post("/api/export/overlay/start", json=body, headers=token_headers("alice"))
    schema_bound = key == "" or len(key) > 900
    assert (r.status_code, r.json()["code"]) == ((422, "validation_error") if schema_bound else (400, "invalid_key")), r.text
    assert "Traceback" not in r.text


def test_keys_stay_inside_the_callers_prefix(client):
    put_object(client, "bob", "private/b.mp4", b"bob only")
    # Alice naming bob's key gets a URL for her own prefix, which holds nothing.
    url = client.get("/api/storage/presigned-url", params={"key": "bob/private/b.mp4"},
                     headers=token_headers("alice")).json()["url"]
    assert "/alice/bob/private/b.mp4" in url
    assert httpx.get(url).status_code == 404
    r = client.get("/api/storage/presigned-url", params={"key": "private/b.mp4"}, headers=server_headers("bob"))
    assert httpx.get(r.json()["url"]).content == b"bob only"


def test_expiry_bounds(client):
    for bad in (0, -1, 604801):
        r = client.get("/api/storage/presigned-url", params={"key": "a.mp4", "expires_in": bad},
                       headers=token_headers("alice"))
        assert r.status_code == 422
        assert upload_url(client, "alice", "a.mp4", expires_in=bad).status_code == 422
    assert upload_url(client, "alice", "a.mp4", content_type="not a type").status_code == 422
    assert upload_url(client, "alice", "a.mp4", expires_in=604800).status_code == 200


def test_s3_mode_hands_out_sigv4_urls_for_r2(tmp_path, fake_runpod):
    from tests.conftest import worker_env
    from tests.worker_process import worker as make_worker_process

    env = worker_env(fake_runpod.url, R2_ACCOUNT_ID="0123abcd", R2_BUCKET_NAME="reel-ballers-users",
                     R2_ACCESS_KEY_ID="AKIDEXAMPLE", R2_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG")
    with make_worker_process(tmp_path / "s3", env) as w, httpx.Client(base_url=w.base_url) as c:
        r = c.get("/api/storage/presigned-url", params={"key": "final_videos/a b.mp4"}, headers=token_headers("alice"))
        url = r.json()["url"]
        assert url.startswith("https://0123abcd.r2.cloudflarestorage.com/reel-ballers-users/alice/final_videos/a%20b.mp4?")
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["3600"]
        assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/") and "/auto/s3/aws4_request" in query["X-Amz-Credential"][0]
        assert "wJalrXUtnFEMI" not in url
        up = c.post("/api/storage/upload-url", json={"key": "working_videos/x.mp4", "content_type": "video/mp4"},
                    headers=token_headers("alice")).json()
        assert parse_qs(urlsplit(up["url"]).query)["X-Amz-SignedHeaders"] == ["content-type;host"]
        assert up["headers"] == {"Content-Type": "video/mp4"}


def test_the_database_key_cannot_be_uploaded_over(client):
    r = upload_url(client, "alice", "database.sqlite")
    assert r.status_code == 400 and r.json()["code"] == "invalid_key"
    assert upload_url(client, "alice", "backups/database.sqlite").status_code == 200


def test_corrupt_user_database_is_reported_not_overwritten(client):
    # Whatever wrote it (an old bug, a manual upload), the blob is not SQLite.
    garbage = b"definitely not sqlite" * 50
    write_user_blob(client, "carol", "database.sqlite", garbage)
    r = client.get("/api/downloads", headers=token_headers("carol"))
    assert r.status_code == 500 and r.json()["code"] == "user_database_corrupt" and "Traceback" not in r.text
    url = client.get("/api/storage/presigned-url", params={"key": "database.sqlite"},
                     headers=token_headers("carol")).json()["url"]
    assert httpx.get(url).content == garbage


def test_upload_size_limit_is_checked_before_reading(client, worker):
    import socket

    up = upload_url(client, "alice", "working_videos/huge.mp4").json()
    path = up["url"].split(str(worker.port), 1)[1]
    with socket.create_connection(("127.0.0.1", worker.port), timeout=10) as s:
        s.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6000000000\r\n\r\n".encode())
        answer = ""
        while "payload_too_large" not in answer and (chunk := s.recv(4096)):
            answer += chunk.decode()
    assert answer.startswith("HTTP/1.1 413") and "payload_too_large" in answer
