"""The client's pieces that need no Worker: offline tokens, typed errors, the export switch, and
RunPodClient against the fake RunPod endpoint (which follows the cloud API)."""

from __future__ import annotations

import httpx
import jwt
import pytest
from reel_ballers_client import (
    TERMINAL_STATUSES,
    Conflict,
    ExportSwitch,
    InvalidRequest,
    NotFound,
    RunPodClient,
    RunPodError,
    ServerError,
    TransportError,
    Unauthorized,
    mint_user_token,
    start_export,
)
from reel_ballers_client.errors import raise_for_answer
from reel_ballers_client.workers import WorkersClient, event_from_status

SECRET = "a-test-secret-of-enough-length-0123456789"


def test_offline_tokens_carry_the_claims_the_worker_checks():
    token = mint_user_token("alice", SECRET, ttl_s=600, now=1_700_000_000)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"sub": "alice", "iat": 1_700_000_000, "exp": 1_700_000_600}
    for bad in (dict(user_id="alice\n"), dict(user_id=""), dict(user_id="a" * 65), dict(ttl_s=59),
                dict(ttl_s=7 * 24 * 3600 + 1), dict(ttl_s=True), dict(secret="")):
        args = {"user_id": "alice", "secret": SECRET, "ttl_s": 600, **bad}
        with pytest.raises(ValueError):
            mint_user_token(**args)


@pytest.mark.parametrize(("status", "kind"), [(400, InvalidRequest), (401, Unauthorized), (404, NotFound),
                                              (409, Conflict), (422, InvalidRequest), (500, ServerError),
                                              (503, ServerError)])
def test_error_answers_become_typed_exceptions_with_the_code(status, kind):
    response = httpx.Response(status, json={"error": "Something", "code": "some_code", "details": []})
    with pytest.raises(kind) as caught:
        raise_for_answer(response)
    assert (caught.value.status, caught.value.code, caught.value.message) == (status, "some_code", "Something")


def test_an_error_that_is_not_json_still_has_a_status_and_code():
    with pytest.raises(ServerError) as caught:
        raise_for_answer(httpx.Response(502, text="<html>bad gateway</html>"))
    assert caught.value.code == "http_error"


def test_status_answers_map_to_the_websocket_shapes():
    base = {"job_id": "j", "progress": 40}
    assert event_from_status({**base, "status": "processing", "message": "m"}) == {
        "type": "progress", "job_id": "j", "progress": 40, "message": "m"}
    assert event_from_status({**base, "status": "complete", "output_key": "k", "output_url": "u"}) == {
        "type": "complete", "job_id": "j", "output_key": "k", "output_url": "u"}
    assert event_from_status({**base, "status": "error", "error": "e"}) == {"type": "error", "job_id": "j", "error": "e"}
    assert event_from_status({**base, "status": "cancelled"}) == {"type": "cancelled", "job_id": "j"}
    assert event_from_status({**base, "status": "queued", "queue_position": 3, "seq": 4}) == {
        "type": "queued", "job_id": "j", "position": 3, "seq": 4}
    # The body's seq (the job's last event) goes with it: watch() yields only newer ones.
    assert event_from_status({**base, "status": "cancelled", "seq": 9}) == {"type": "cancelled", "job_id": "j", "seq": 9}


async def test_a_queue_token_is_minted_with_the_key():
    seen = []

    def worker(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers.get("x-api-key"), request.content))
        return httpx.Response(200, json={"token": "q.t.k", "token_type": "Bearer", "expires_at": "2030-01-01T00:00:00Z"})

    async with WorkersClient("https://w", "key", "alice", transport=httpx.MockTransport(worker)) as client:
        assert await client.mint_queue_token(ttl_s=600) == "q.t.k"
    assert seen == [("POST", "/api/auth/queue-token", "key", b'{"ttl_s":600}')]


def test_the_switch_reads_the_environment():
    assert ExportSwitch.from_env({}).use_workers is False
    on = ExportSwitch.from_env({"USE_WORKERS_EXPORT": "True", "WORKERS_API_URL": "https://w", "WORKERS_API_KEY": "k"})
    assert (on.use_workers, on.workers_url, on.api_key) == (True, "https://w", "k")
    assert ExportSwitch.from_env({"USE_WORKERS_EXPORT": "yes"}).use_workers is False  # only "true" turns it on


async def test_flag_off_takes_the_local_path_with_the_same_shape():
    calls = []

    async def local(**kwargs):
        calls.append(kwargs)
        return {"job_id": "local-7", "status": "processing", "extra": 1}

    def no_network(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the Worker must not be called with the flag off")

    switch = ExportSwitch(use_workers=False, transport=httpx.MockTransport(no_network))
    answer = await start_export(switch, "overlay", user_id="alice", project_id=1, input_key="working_videos/a.mp4",
                                params={"effect_type": "blur"}, local=local)
    assert answer == {"job_id": "local-7", "status": "processing", "websocket_url": None}
    assert calls == [{"export_type": "overlay", "user_id": "alice", "project_id": 1,
                      "input_key": "working_videos/a.mp4", "params": {"effect_type": "blur"}}]


async def test_flag_on_without_a_key_is_a_clear_error():
    async def local(**kwargs):
        raise AssertionError

    with pytest.raises(ValueError, match="WORKERS_API_KEY"):
        await start_export(ExportSwitch(use_workers=True), "overlay", user_id="a", project_id=1, input_key="k",
                           params={}, local=local)


@pytest.fixture
def runpod(fake_runpod):
    fake_runpod.mode = "ok"
    return fake_runpod


async def test_runpod_client_follows_the_cloud_api(runpod):
    async with RunPodClient(runpod.url, runpod.api_key) as client:
        submitted = await client.submit_job({"job_id": "abc", "type": "overlay"}, webhook="http://127.0.0.1:9/hook")
        assert submitted["status"] == "IN_QUEUE" and submitted["id"]
        assert runpod.runs[-1] == {"input": {"job_id": "abc", "type": "overlay"}, "webhook": "http://127.0.0.1:9/hook"}
        status = await client.get_job_status(submitted["id"])
        assert status["id"] == submitted["id"] and status["status"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
        assert (await client.cancel(submitted["id"]))["status"] == "CANCELLED"
        with pytest.raises(RunPodError) as caught:
            await client.get_job_status("no-such-job")
        assert caught.value.status == 404


async def test_runpod_client_errors(runpod):
    async with RunPodClient(runpod.url, "wrong-key") as client:
        with pytest.raises(RunPodError) as caught:
            await client.submit_job({})
        assert caught.value.status == 401
    runpod.mode = "unavailable"
    async with RunPodClient(runpod.url, runpod.api_key) as client:
        with pytest.raises(RunPodError) as caught:
            await client.submit_job({})
        assert caught.value.status == 503
    async with RunPodClient("http://127.0.0.1:9/v2/x", "k") as client:
        with pytest.raises(TransportError):
            await client.submit_job({})


def test_the_client_knows_every_terminal_status_the_worker_has():
    # The client is its own package (it cannot import the Worker's code): the two lists must agree.
    from jobs.model import TERMINAL

    assert TERMINAL_STATUSES == TERMINAL
    for status in TERMINAL:
        event = event_from_status({"job_id": "j", "status": status, "error": "why"})
        assert event["type"] == status
