"""What the export-job tests share: starting a job, reading its status, reporting as the GPU worker, and a
browser-like WebSocket client."""

from __future__ import annotations

import json

import httpx
from websockets.sync.client import connect

from tests.conftest import token_headers, user_token

OVERLAY_PARAMS = {"highlight_regions": [{"start_frame": 0, "end_frame": 30, "x": 0.5, "y": 0.5,
                                         "radius_x": 0.1, "radius_y": 0.2, "opacity": 0.8}],
                  "effect_type": "blur"}


def start_job(client, user="alice", key="working_videos/in.mp4", export_type="overlay", params=None, headers=None):
    body = {"project_id": 7, "input_key": key, "params": params or OVERLAY_PARAMS}
    return client.post(f"/api/export/{export_type}/start", json=body, headers=headers or token_headers(user))


def start_submitted(client, fake, **kwargs) -> tuple[str, str]:
    """Start a job and wait until its alarm submitted it to RunPod: (job id, its callback URL)."""
    r = start_job(client, **kwargs)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    run, _ = fake.run_for(job_id)
    return job_id, run["input"]["callback_url"]


def status(client, job_id, user="alice"):
    return client.get(f"/api/export/status/{job_id}", headers=token_headers(user)).json()


def callback(url: str, body, **kwargs) -> httpx.Response:
    return httpx.post(url, json=body, timeout=30, **kwargs)


class Socket:
    """A browser-like WebSocket client that collects JSON messages."""

    def __init__(self, ws_url: str):
        self.conn = connect(ws_url, open_timeout=10, close_timeout=5).__enter__()

    def recv(self, timeout=10.0) -> dict:
        return json.loads(self.conn.recv(timeout=timeout))

    def recv_until(self, kind: str, timeout=10.0) -> list[dict]:
        seen = []
        while True:
            msg = self.recv(timeout)
            seen.append(msg)
            if msg["type"] == kind:
                return seen

    def close(self):
        self.conn.close()


def ws_url(worker, job_id, user="alice"):
    return f"{worker.ws_url}/api/jobs/{job_id}/ws?token={user_token(user)}"
