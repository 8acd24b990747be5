"""The local RunPod-compatible endpoint that scripts/dev runs: an export completes end to end."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from gpu_worker.local_endpoint import LocalEndpoint
from tests.conftest import put_object, token_headers, worker_env
from tests.worker_process import worker as make_worker_process


@pytest.fixture
def gpu():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = LocalEndpoint("test-runpod-key", step_delay_s=0.05)
    server = uvicorn.Server(uvicorn.Config(endpoint.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v2/local", endpoint
    server.should_exit = True
    thread.join(10)


def test_export_runs_end_to_end(tmp_path, gpu):
    url, endpoint = gpu
    with make_worker_process(tmp_path, worker_env(url)) as w, httpx.Client(base_url=w.base_url, timeout=30) as c:
        put_object(c, "dev", "working_videos/game.mp4", b"raw footage" * 100)
        body = {"project_id": 1, "input_key": "working_videos/game.mp4",
                "params": {"highlight_regions": [], "effect_type": "dim"}}
        job_id = c.post("/api/export/overlay/start", json=body, headers=token_headers("dev")).json()["job_id"]
        deadline = time.monotonic() + 20
        while (job := c.get(f"/api/export/status/{job_id}", headers=token_headers("dev")).json())["status"] != "complete":
            assert job["status"] in ("pending", "processing") and time.monotonic() < deadline, job
            time.sleep(0.1)
        signed = c.get(job["output_url"], headers=token_headers("dev")).json()["url"]
        assert httpx.get(signed).content == b"raw footage" * 100
        assert list(endpoint.jobs.values())[-1]["status"] == "COMPLETED"


def test_wrong_key_and_unknown_job(gpu):
    url, _ = gpu
    assert httpx.post(f"{url}/run", json={"input": {}}, headers={"Authorization": "Bearer nope"}).status_code == 401
    auth = {"Authorization": "Bearer test-runpod-key"}
    assert httpx.get(f"{url}/status/local-999", headers=auth).status_code == 404
    assert httpx.post(f"{url}/run", content=b"[]", headers=auth).status_code == 400
