"""Shared fixtures: test secrets, a fake RunPod endpoint, and the Worker served by `wrangler dev`
on workerd + Pyodide (tests/worker_process.py)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

REPO = Path(__file__).resolve().parent.parent

SECRETS = {
    "API_KEYS": "test-server-key-1,test-server-key-2",
    "USER_TOKEN_SECRET": "test-user-token-secret-0123456789abcdef",
    "CALLBACK_SECRET": "test-callback-secret-0123456789abcdef",
    "URL_SIGNING_SECRET": "test-url-signing-secret-0123456789abcdef",
    "RUNPOD_API_KEY": "test-runpod-key",
    "R2_ACCESS_KEY_ID": "",
    "R2_SECRET_ACCESS_KEY": "",
    "WEBHOOK_SECRET": "whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5YWI=",  # 32 bytes: "test-webhook-secret-0123456789ab"
}
SERVER_KEY = "test-server-key-1"
ORIGIN = "http://app.test"


def user_token(user_id: str, ttl_s: int = 3600, secret: str | None = None, **claims) -> str:
    now = int(time.time())
    payload = {"sub": user_id, "iat": now, "exp": now + ttl_s, **claims}
    return jwt.encode(payload, secret or SECRETS["USER_TOKEN_SECRET"], algorithm="HS256")


def server_headers(user_id: str | None = None) -> dict[str, str]:
    headers = {"X-API-Key": SERVER_KEY}
    if user_id is not None:
        headers["X-User-Id"] = user_id
    return headers


def signed_callback_path(job_id: str, user_id: str = "alice") -> str:
    """A callback path signed as the Worker signs the ones it gives RunPod (auth.callback_sig)."""
    from auth import callback_sig

    return callback_sig.callback_url("", job_id, user_id, SECRETS["CALLBACK_SECRET"])


def token_headers(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token(user_id)}"}


def worker_env(runpod_url: str = "http://127.0.0.1:9", **overrides: str) -> dict[str, str]:
    env = {
        **SECRETS,
        "RUNPOD_ENDPOINT": runpod_url,
        "CORS_ORIGINS": ORIGIN,
        "ENVIRONMENT": "test",
        "PUBLIC_BASE_URL": "",
        "R2_ACCOUNT_ID": "",
        "STALL_POLL_S": "30",
        "QUEUE_TTL_S": "3600",
        "EXECUTION_TIMEOUT_S": "3600",
        "SUBMIT_RETRY_BASE_S": "0.2",
        # The scheduler's limits out of the way: most tests leave jobs running, which would hold the slots.
        # tests/integration/test_scheduler.py and the dashboard's tests set their own.
        "MAX_ACTIVE_PER_USER": "1000",
        "MAX_ACTIVE_TOTAL": "1000",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="module")
def fake_runpod():
    from tests.fakes.runpod_server import FakeRunPod

    with FakeRunPod() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fake_runpod_reset(request) -> Iterator[None]:
    """After each test that uses the module's fake RunPod, it answers normally again."""
    yield
    if "fake_runpod" in request.fixturenames:
        request.getfixturevalue("fake_runpod").reset()


@pytest.fixture(scope="module")
def worker(tmp_path_factory, fake_runpod) -> Iterator:
    """One Worker per test module, pointed at the module's fake RunPod."""
    from tests.worker_process import worker as make_worker_process

    state = tmp_path_factory.mktemp("worker-state")
    with make_worker_process(state, worker_env(fake_runpod.url)) as proc:
        yield proc


@pytest.fixture
def client(worker) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        yield c


def put_object(client: httpx.Client, user_id: str, key: str, data: bytes, content_type: str = "video/mp4") -> None:
    """Upload through the API the way a client does: ask for an upload URL, then PUT to it."""
    r = client.post("/api/storage/upload-url", json={"key": key, "content_type": content_type},
                    headers=server_headers(user_id))
    assert r.status_code == 200, r.text
    info = r.json()
    put = httpx.put(info["url"], content=data, headers=info["headers"], timeout=30)
    assert put.status_code == 200, put.text


def user_database_statuses(client: httpx.Client, user_id: str) -> dict[str, str]:
    """The user's database as the service keeps it in R2: each export job's id and status."""
    url = client.get("/api/storage/presigned-url", params={"key": "database.sqlite"},
                     headers=server_headers(user_id)).json()["url"]
    blob = httpx.get(url, timeout=20)
    if blob.status_code == 404:
        return {}
    assert blob.status_code == 200
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(blob.content)
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'export_jobs'").fetchone():
            return {}  # a database the service has not written yet
        return dict(db.execute("SELECT id, status FROM export_jobs").fetchall())
    finally:
        db.close()


def write_user_blob(client: httpx.Client, user_id: str, key: str, data: bytes,
                    content_type: str = "application/vnd.sqlite3") -> None:
    """Store bytes at a user's key the way only the service itself may (`database.sqlite` cannot be
    uploaded through the API, nor can a type uploads may not have): a Worker-signed PUT made with the
    test's own signing secret."""
    from storage import signed_urls

    url = signed_urls.sign(SECRETS["URL_SIGNING_SECRET"], str(client.base_url), f"{user_id}/{key}", "PUT",
                           int(time.time()) + 60, content_type)
    put = httpx.put(url, content=data, headers={"Content-Type": content_type})
    assert put.status_code == 200, put.text


@pytest.fixture
def storage():
    """A local HTTP server playing input/output storage and the callback receiver (tests/gpu_worker/media.py)."""
    from tests.gpu_worker.media import serve_storage

    store, server = serve_storage()
    yield store
    server.shutdown()
    server.server_close()
