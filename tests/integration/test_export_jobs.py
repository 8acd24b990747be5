"""Export jobs end to end: start → RunPod → callbacks → WebSockets → status, and every unhappy path."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import (
    put_object,
    server_headers,
    token_headers,
    user_database_statuses,
    write_user_blob,
)
from tests.integration.export_support import (
    Socket,
    callback,
    start_job,
    start_submitted,
    status,
    ws_url,
)
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def alice_input(client_module):
    put_object(client_module, "alice", "working_videos/in.mp4", b"\x00\x01fake-mp4" * 1000)
    put_object(client_module, "bob", "working_videos/in.mp4", b"bob's video")


@pytest.fixture(scope="module")
def client_module(worker):
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        yield c


def test_happy_path_two_sockets_see_every_update_in_order(worker, client, fake_runpod, alice_input):
    fake_runpod.mode = "ok"
    r = start_job(client)
    assert r.status_code == 202, r.text
    started = r.json()
    job_id = started["job_id"]
    # Answered once the job is stored; the job's alarm submits it to RunPod right after.
    assert started["status"] == "pending"
    assert started["websocket_url"].endswith(f"/api/jobs/{job_id}/ws")
    assert started["status_url"].endswith(f"/api/export/status/{job_id}")

    # RunPod got the cloud-shaped body, with a signed callback and working presigned URLs.
    run, _ = fake_runpod.run_for(job_id)
    wait_for(lambda: status(client, job_id)["status"] == "processing")
    inp = run["input"]
    assert inp["job_id"] == job_id and inp["user_id"] == "alice" and inp["type"] == "overlay"
    assert inp["input_key"] == "working_videos/in.mp4"
    assert inp["output_key"] == f"final_videos/overlay_{job_id}.mp4"
    assert inp["params"]["effect_type"] == "blur"
    assert run["webhook"] == inp["callback_url"] and "sig=" in inp["callback_url"]
    assert httpx.get(inp["input_url"]).content == b"\x00\x01fake-mp4" * 1000
    assert httpx.put(inp["output_url"], content=b"rendered", headers={"Content-Type": "video/mp4"}).status_code == 200

    a, b = Socket(ws_url(worker, job_id)), Socket(ws_url(worker, job_id))
    try:
        for s in (a, b):
            first = s.recv()
            assert first == {"type": "status", "job_id": job_id, "status": "processing", "progress": 0,
                                 "attempt": 1, "seq": 1}
        for p in (10, 50, 90):
            assert callback(inp["callback_url"], {"status": "progress", "progress": p, "message": f"at {p}"}).json()[
                "received"] is True
        assert callback(inp["callback_url"], {"status": "complete", "output_key": inp["output_key"]}).status_code == 200
        for s in (a, b):
            msgs = s.recv_until("complete")
            assert [m["progress"] for m in msgs if m["type"] == "progress"] == [10, 50, 90]
            assert msgs[-1] == {"type": "complete", "job_id": job_id, "output_key": inp["output_key"],
                                "output_url": f"/api/storage/presigned-url?key=final_videos%2Foverlay_{job_id}.mp4",
                                "seq": 5}
    finally:
        a.close()
        b.close()

    body = status(client, job_id)
    assert body["status"] == "complete" and body["progress"] == 100
    assert body["output_key"] == inp["output_key"] and "completed_at" in body and "error" not in body
    # The output URL leads to the rendered bytes.
    signed = client.get(body["output_url"], headers=token_headers("alice")).json()
    assert httpx.get(signed["url"]).content == b"rendered"
    # The alias route and the typed mismatch.
    assert client.get(f"/api/export/overlay/status/{job_id}", headers=token_headers("alice")).status_code == 200
    assert client.get(f"/api/export/framing/status/{job_id}", headers=token_headers("alice")).status_code == 404
    # The user's database learns about the finished video (written by the job's alarm).
    wait_for(lambda: any(d.get("video_path") == inp["output_key"] for d in
                         client.get("/api/downloads", headers=token_headers("alice")).json()["downloads"]))


def test_runpod_webhook_body_and_error_path(worker, client, fake_runpod, alice_input):
    fake_runpod.mode = "ok"
    job_id, cb = start_submitted(client, fake_runpod)
    s = Socket(ws_url(worker, job_id))
    try:
        s.recv()
        # The handler's output saying the input failed (RunPod's FAILED alone is a crash: it runs again,
        # test_export_retries.py).
        r = callback(cb, {"id": "rp-x", "status": "COMPLETED", "output": {"status": "error",
                                                                          "error": "ffmpeg exited with 1"}})
        assert r.status_code == 200
        assert s.recv_until("error")[-1] == {"type": "error", "job_id": job_id, "error": "ffmpeg exited with 1",
                                             "seq": 2}
    finally:
        s.close()
    body = status(client, job_id)
    assert body["status"] == "error" and body["error"] == "ffmpeg exited with 1" and "output_key" not in body
    # Terminal is final: late callbacks are acknowledged and ignored.
    for late in ({"status": "progress", "progress": 99}, {"status": "complete"}, {"id": "x", "status": "COMPLETED"}):
        r = callback(cb, late)
        assert r.status_code == 200 and r.json()["ignored"] == "terminal"
    assert status(client, job_id)["status"] == "error"


def test_runpod_statuses_map(client, fake_runpod, alice_input):
    fake_runpod.mode = "ok"
    outcomes = {}
    for rp_status in ("CANCELLED", "TIMED_OUT", "COMPLETED"):
        job_id, cb = start_submitted(client, fake_runpod)
        body = {"id": "rp", "status": rp_status}
        if rp_status == "COMPLETED":
            body["output"] = {"output_key": f"alice/final_videos/overlay_{job_id}.mp4"}  # prefixed form
        assert callback(cb, body).status_code == 200
        outcomes[rp_status] = status(client, job_id)
    assert outcomes["CANCELLED"]["status"] == "cancelled"
    # TIMED_OUT before any GPU ran the job: RunPod's TTL passed (test_export_retries.py has the other cases).
    assert outcomes["TIMED_OUT"]["status"] == "expired" and "TTL" in outcomes["TIMED_OUT"]["error"]
    assert outcomes["COMPLETED"]["status"] == "complete"
    assert outcomes["COMPLETED"]["output_key"].startswith("final_videos/")


def test_out_of_order_duplicate_and_clamped_progress(client, fake_runpod, alice_input):
    fake_runpod.mode = "ok"
    job_id, cb = start_submitted(client, fake_runpod)
    assert callback(cb, {"status": "progress", "progress": 60}).json()["progress"] == 60
    r = callback(cb, {"status": "progress", "progress": 40})  # arrives late: ignored, never backwards
    assert r.status_code == 200 and r.json()["progress"] == 60 and r.json()["ignored"] == "stale"
    assert callback(cb, {"status": "progress", "progress": 60}).json()["ignored"] == "duplicate"
    assert callback(cb, {"status": "progress", "progress": 250}).json()["progress"] == 100  # clamped
    assert callback(cb, {"status": "progress", "progress": -5}).json()["progress"] == 100
    assert status(client, job_id)["progress"] == 100
    assert callback(cb, {"status": "complete"}).status_code == 200
    r = callback(cb, {"status": "complete"})  # RunPod retries webhooks: an identical repeat is fine
    assert r.status_code == 200 and r.json()["ignored"] == "duplicate"


def test_callback_signatures(client, fake_runpod, alice_input, worker):
    from urllib.parse import parse_qs, urlsplit

    from auth import callback_sig
    from tests.conftest import SECRETS

    fake_runpod.mode = "ok"
    job_a, cb_a = start_submitted(client, fake_runpod)
    _, cb_b = start_submitted(client, fake_runpod)
    query_a, query_b = (parse_qs(urlsplit(cb).query) for cb in (cb_a, cb_b))
    assert query_a["u"] == ["alice"]
    sig_a, sig_b = query_a["sig"][0], query_b["sig"][0]
    base = worker.base_url
    ok = {"status": "progress", "progress": 5}
    cb = f"{base}/api/runpod/callback/{job_a}"
    assert httpx.post(cb, json=ok).status_code == 401
    assert httpx.post(f"{cb}?u=alice&sig={sig_b}", json=ok).status_code == 401  # another job's signature
    assert httpx.post(f"{cb}?u=alice&sig=zz", json=ok).status_code == 401
    assert httpx.post(f"{cb}?sig={sig_a}", json=ok).status_code == 401  # the user is part of what is signed
    assert httpx.post(f"{cb}?u=bob&sig={sig_a}", json=ok).status_code == 401  # ... so it cannot be changed
    assert httpx.post(cb, json=ok, headers=server_headers("alice")).status_code == 401
    # The seed path works with the same signature.
    assert httpx.post(f"{base}/api/jobs/{job_a}/do?u=alice&sig={sig_a}", json=ok).status_code == 200
    # A valid signature for a job that does not exist (in that user's object, or at all).
    for user, job in (("alice", "ghost"), ("bob", job_a)):
        ghost_sig = callback_sig.sign(SECRETS["CALLBACK_SECRET"], job, user)
        r = httpx.post(f"{base}/api/runpod/callback/{job}?u={user}&sig={ghost_sig}", json=ok)
        assert r.status_code == 404 and r.json()["code"] == "not_found"


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'"progress"', b"{}", b'{"status": 5}', b'{"status": "exploded"}',
    b'{"status": "progress", "progress": "fifty"}', b'{"status": "progress", "progress": true}',
    b'{"status": "progress", "message": 12}', b'{"status": "complete", "output_key": "../bob/x.mp4"}',
    b'{"status": "complete", "output_key": "/etc/passwd"}', b'{"id": "x", "status": "WHATEVER"}',
])
def test_malformed_callbacks_are_4xx_json(client, fake_runpod, alice_input, body):
    fake_runpod.mode = "ok"
    job_id, cb = start_submitted(client, fake_runpod)
    r = httpx.post(cb, content=body, headers={"Content-Type": "application/json"})
    # Not JSON at all is 400 invalid_json; JSON of the wrong shape is 422 (docs/api.md, "Callbacks").
    expected = (400, "invalid_json") if body == b"not json" else (422, "validation_error")
    assert (r.status_code, r.json()["code"]) == expected, r.text
    assert status(client, job_id)["status"] == "processing"  # nothing was lost or changed


def test_cancel(worker, client, fake_runpod, alice_input):
    fake_runpod.mode = "ok"
    job_id = start_job(client).json()["job_id"]
    _, rp_id = fake_runpod.run_for(job_id)
    wait_for(lambda: status(client, job_id)["status"] == "processing")
    s = Socket(ws_url(worker, job_id))
    try:
        s.recv()
        r = client.post(f"/api/export/jobs/{job_id}/cancel", headers=token_headers("alice"))
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert s.recv_until("cancelled")[-1] == {"type": "cancelled", "job_id": job_id, "seq": 2}
    finally:
        s.close()
    wait_for(lambda: rp_id in fake_runpod.cancel_calls)
    r = client.post(f"/api/export/jobs/{job_id}/cancel", headers=token_headers("alice"))
    assert r.status_code == 409 and r.json()["code"] == "already_finished"


def test_other_users_job_is_invisible(worker, client, fake_runpod, alice_input):
    fake_runpod.mode = "ok"
    job_id, _ = start_submitted(client, fake_runpod)
    wait_for(lambda: status(client, job_id)["status"] == "processing")
    for r in (client.get(f"/api/export/status/{job_id}", headers=token_headers("bob")),
              client.get(f"/api/export/status/{job_id}", headers=server_headers("bob")),
              client.post(f"/api/export/jobs/{job_id}/cancel", headers=token_headers("bob"))):
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    with pytest.raises(InvalidStatus) as exc:
        connect(ws_url(worker, job_id, user="bob"), open_timeout=10)
    assert exc.value.response.status_code == 404
    assert job_id not in [j["job_id"] for j in client.get("/api/export/jobs", headers=token_headers("bob")).json()["jobs"]]
    assert status(client, job_id)["status"] == "processing"


def test_start_validation(client, alice_input):
    bad_keys = ["/abs/x.mp4", "../bob/in.mp4", "a//b.mp4", "a/./b.mp4", "a\\b.mp4", "a\x00b", "ok/\x1fb", "x" * 2000]
    for key in bad_keys:
        r = start_job(client, key=key)
        # Beyond the schema's 900 characters it is 422; every other broken key is 400 invalid_key.
        expected = (422, "validation_error") if len(key) > 900 else (400, "invalid_key")
        assert (r.status_code, r.json()["code"]) == expected, (key, r.text)
    r = start_job(client, key="working_videos/missing.mp4")
    assert r.status_code == 400 and r.json()["code"] == "input_not_found"
    r = start_job(client, params={"highlight_regions": [{"start_frame": 5}], "effect_type": "blur"})
    assert r.status_code == 422 and any("highlight_regions" in d["loc"] for d in r.json()["details"])
    r = start_job(client, export_type="framing", params={"crop_keyframes": []})
    assert r.status_code == 422
    r = start_job(client, export_type="annotate", params={"clips": [{"start_time": 5, "end_time": 1}]})
    assert r.status_code == 422
    assert client.post("/api/export/resize/start", json={}, headers=token_headers("alice")).status_code == 404
    # Coordinates are fractions of the frame: a window must lie inside it, a region's centre too.
    for window in ({"x": 0, "y": 0, "width": 100, "height": 200}, {"x": 0.6, "y": 0, "width": 0.5, "height": 1},
                   {"x": 0, "y": 0.2, "width": 0.5, "height": 0.9}, {"x": -0.1, "y": 0, "width": 0.5, "height": 1}):
        r = start_job(client, export_type="framing", params={"crop_keyframes": [{"frame": 0, **window}]})
        assert r.status_code == 422, (window, r.text)
    r = start_job(client, params={"highlight_regions": [{"start_frame": 0, "end_frame": 5, "x": 1.5, "y": 0.5,
                                                         "radius_x": 0.1, "radius_y": 0.1}], "effect_type": "dim"})
    assert r.status_code == 422
    ok = start_job(client, export_type="framing", params={
        "crop_keyframes": [{"frame": 0, "x": 0, "y": 0, "width": 0.5, "height": 1},
                           {"time": 2.5, "x": 0.5, "y": 0, "width": 0.5, "height": 1}], "fps": 30})
    assert ok.status_code == 202, ok.text


def test_idempotency_key(client, fake_runpod, alice_input):
    fake_runpod.mode = "ok"
    h = {**token_headers("alice"), "Idempotency-Key": "start-123"}
    first = start_job(client, headers=h)
    fake_runpod.run_for(first.json()["job_id"])
    second = start_job(client, headers=h)
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]
    assert second.headers.get("idempotent-replayed") == "true"
    assert fake_runpod.runs_of(first.json()["job_id"]) == 1  # never a second RunPod job
    other = start_job(client, headers=h, params={"highlight_regions": [], "effect_type": "dim"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    bob = start_job(client, user="bob", headers={**token_headers("bob"), "Idempotency-Key": "start-123"})
    assert bob.status_code == 202 and bob.json()["job_id"] != first.json()["job_id"]


def test_fifty_concurrent_starts_all_listed_once(worker, fake_runpod, tmp_path):
    fake_runpod.mode = "ok"
    user = "busy_user"
    with httpx.Client(base_url=worker.base_url, timeout=60) as c:
        put_object(c, user, "working_videos/in.mp4", b"v")

        def one(_):
            return start_job(c, user=user).json()["job_id"]

        with ThreadPoolExecutor(max_workers=16) as pool:
            ids = list(pool.map(one, range(50)))
        assert len(set(ids)) == 50
        listed, cursor = [], None
        while True:
            params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
            page = c.get("/api/export/jobs", params=params, headers=token_headers(user)).json()
            listed += page["jobs"]
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert sorted(j["job_id"] for j in listed) == sorted(ids)
    keys = [(j["created_at"], j["job_id"]) for j in listed]
    assert keys == sorted(keys, reverse=True)  # newest first, ties by job id
    for job_id in ids:
        fake_runpod.run_for(job_id)
    with httpx.Client(base_url=worker.base_url) as c:
        r = c.get("/api/export/jobs", params={"cursor": "garbage"}, headers=token_headers(user))
        assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
        r = c.get("/api/export/jobs", params={"limit": 0}, headers=token_headers(user))
        assert r.status_code == 422
        def processing() -> int:
            r = c.get("/api/export/jobs", params={"status": "processing", "type": "overlay", "limit": 100},
                      headers=token_headers(user))
            return len(r.json()["jobs"])

        wait_for(lambda: processing() == 50, timeout=30)
        # The user's database records each of them, however the index batched its writes.
        wait_for(lambda: set(user_database_statuses(c, user)) == set(ids), timeout=30)


def test_an_unreadable_user_database_never_holds_up_jobs_and_gets_the_records_once_repaired(
        worker, client, fake_runpod):
    user = "db_broken"
    put_object(client, user, "working_videos/in.mp4", b"video")
    garbage = b"not a database" * 40
    write_user_blob(client, user, "database.sqlite", garbage)
    fake_runpod.mode = "ok"
    ids = []
    for _ in range(3):
        job_id, cb = start_submitted(client, fake_runpod, user=user)
        assert callback(cb, {"status": "complete"}).status_code == 200
        assert status(client, job_id, user)["status"] == "complete"
        ids.append(job_id)
    # Every write of the records fails (logged, retried); the blob is never overwritten meanwhile.
    wait_for(lambda: "user database write for db_broken failed (2 in a row" in worker.log_text(), timeout=20)
    url = client.get("/api/storage/presigned-url", params={"key": "database.sqlite"},
                     headers=token_headers(user)).json()["url"]
    assert httpx.get(url).content == garbage
    # Repaired (a database restored with only a table of the user's own): the next retry migrates it
    # and writes every record still owed.
    restored = sqlite3.connect(":memory:")
    restored.execute("CREATE TABLE notes (text TEXT)")
    write_user_blob(client, user, "database.sqlite", restored.serialize())
    restored.close()
    wait_for(lambda: user_database_statuses(client, user) == dict.fromkeys(ids, "complete"), timeout=40)


def test_a_broken_socket_never_breaks_a_broadcast(worker, client, fake_runpod, alice_input):
    import socket

    fake_runpod.mode = "ok"
    job_id, cb = start_submitted(client, fake_runpod)
    broken, healthy = Socket(ws_url(worker, job_id)), Socket(ws_url(worker, job_id))
    try:
        broken.recv()
        healthy.recv()
        broken.conn.socket.shutdown(socket.SHUT_RDWR)  # gone without a close frame
        broken.conn.socket.close()
        for p in (20, 40):
            assert callback(cb, {"status": "progress", "progress": p}).status_code == 200
        assert [healthy.recv()["progress"], healthy.recv()["progress"]] == [20, 40]
    finally:
        healthy.close()


def test_undefined_and_too_deep_messages_get_no_answer_and_the_socket_keeps_working(
        worker, client, fake_runpod, alice_input):
    fake_runpod.mode = "ok"
    job_id, _ = start_submitted(client, fake_runpod)
    wait_for(lambda: status(client, job_id)["status"] == "processing")
    s = Socket(ws_url(worker, job_id))
    try:
        current = s.recv()
        assert current == {"type": "status", "job_id": job_id, "status": "processing", "progress": 0,
                                 "attempt": 1, "seq": 1}
        s.conn.send("[" * 10_000 + "]" * 10_000)  # json.loads would raise RecursionError on it
        s.conn.send("not json")
        s.conn.send('{"type": "mystery"}')
        s.conn.send(b"\x00binary")
        # Messages are handled in order, so the first answer after them is to the status request:
        # none of them got one, and the object still reads and answers its socket.
        s.conn.send('{"type": "status"}')
        assert s.recv() == current
        s.conn.send('{"type": "ping", "n": 1}')  # not the exact ping: the object answers it, not the runtime
        assert s.recv() == {"type": "pong"}
    finally:
        s.close()
    assert "RecursionError" not in worker.log_text()


def test_concurrent_requests_with_one_idempotency_key_make_one_job(client, fake_runpod, alice_input):
    fake_runpod.mode = "ok"
    before = len(fake_runpod.runs)
    h = {**token_headers("alice"), "Idempotency-Key": "burst-1"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: start_job(client, headers=h), range(8)))
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["job_id"] for r in answers}) == 1
    fake_runpod.run_for(answers[0].json()["job_id"])
    assert len(fake_runpod.runs) == before + 1


