"""The development runtime itself: the Worker really runs on workerd + Pyodide, and its log keeps secrets."""

from __future__ import annotations

import re

import httpx

from tests.conftest import SECRETS, put_object, server_headers, token_headers, user_token


def test_the_worker_runs_python_3_14_under_pyodide(worker):
    # src/entry.py prints this once per isolate; CPython on this machine would say 3.11 on linux.
    line = re.search(r"reel-ballers-api: Python (\S+) on (\S+)", worker.log_text())
    assert line is not None, worker.log_tail()
    assert line.group(1).startswith("3.14.") and line.group(2) == "emscripten"


def test_the_log_shows_no_secret_signature_or_token(worker, client, fake_runpod):
    fake_runpod.mode = "ok"
    put_object(client, "logcheck", "working_videos/in.mp4", b"video")
    url = client.get("/api/storage/presigned-url", params={"key": "working_videos/in.mp4"},
                     headers=server_headers("logcheck")).json()["url"]
    assert httpx.get(url, timeout=30).status_code == 200
    start = client.post("/api/export/overlay/start", headers=token_headers("logcheck"),
                        json={"project_id": 1, "input_key": "working_videos/in.mp4",
                              "params": {"highlight_regions": [], "effect_type": "blur"}})
    assert start.status_code == 202, start.text
    callback_url = fake_runpod.run_for(start.json()["job_id"])[0]["input"]["callback_url"]
    assert httpx.post(callback_url, json={"status": "progress", "progress": 5}, timeout=30).status_code == 200
    # A request that fails still must not print what it carried.
    assert httpx.get(url.replace("sig=", "sig=0"), timeout=30).status_code == 403  # a signed object URL
    client.get("/api/export/jobs", headers={"Authorization": f"Bearer {user_token('logcheck')}x"})

    log = worker.log_text()
    signature = re.search(r"[?&]sig=([^&]+)", callback_url).group(1)
    for secret in [*(v for v in SECRETS.values() if len(v) >= 8), signature, user_token("logcheck")[:40]]:
        assert secret not in log
    assert not re.search(r"[?&](sig|token)=(?!\[redacted\])", log)
