"""Retries that keep the job and deadlines, on workerd against the fake RunPod: a request's retry keeps the
id and the history (Idempotency-Key, the WebSocket's `retrying`, an earlier attempt's late report),
automatic retries stop at JOB_MAX_ATTEMPTS, and `expired` is told from `timed_out`. The rules themselves
are tested on CPython (tests/unit/test_job_attempts.py); these show them over the wire."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.conftest import put_object, token_headers, worker_env
from tests.integration.export_support import OVERLAY_PARAMS, Socket, callback, status, ws_url
from tests.waiting import wait_for

DEADLINE_S = 3  # the Worker's default deadlines here: the deadline test waits on them
LONG = {"queue_ttl_s": 600, "execution_timeout_s": 600}  # for the tests that must not meet them
INTERNAL = {"status": "error", "error": "internal error in the GPU worker (KeyError)", "retryable": True}


@pytest.fixture(scope="module")
def worker(tmp_path_factory, fake_runpod):
    from tests.worker_process import worker as make_worker_process

    env = worker_env(fake_runpod.url, QUEUE_TTL_S=str(DEADLINE_S), EXECUTION_TIMEOUT_S=str(DEADLINE_S),
                     JOB_MAX_ATTEMPTS="2", STALL_POLL_S="60")
    with make_worker_process(tmp_path_factory.mktemp("retries-worker"), env) as proc:
        yield proc


@pytest.fixture(scope="module", autouse=True)
def inputs(worker):
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        put_object(c, "alice", "working_videos/in.mp4", b"video")


def start(client, **fields) -> str:
    body = {"project_id": 7, "input_key": "working_videos/in.mp4", "params": OVERLAY_PARAMS, **fields}
    r = client.post("/api/export/overlay/start", json=body, headers=token_headers("alice"))
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def nth_run(fake, job_id: str, n: int) -> tuple[dict, str]:
    """The `n`th /run of the job (1-based) and its RunPod id, once it has arrived."""
    wait_for(lambda: fake.runs_of(job_id) >= n, timeout=20)
    found = [(run, rid) for run, rid in zip(fake.runs, fake.run_ids, strict=False) if run["input"]["job_id"] == job_id]
    return found[n - 1]


def retry(client, job_id: str, user: str = "alice", key: str | None = None) -> httpx.Response:
    headers = {**token_headers(user), **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/api/export/jobs/{job_id}/retry", headers=headers)


def test_a_retry_keeps_the_id_and_the_history(worker, client, fake_runpod):
    job_id = start(client, **LONG)
    first, first_rp = nth_run(fake_runpod, job_id, 1)
    first_cb = first["input"]["callback_url"]
    assert first["policy"] == {"ttl": 1_200_000, "executionTimeout": 600_000}
    early = retry(client, job_id)
    assert early.status_code == 409 and early.json()["code"] == "not_retryable", early.text  # it runs
    callback(first_cb, {"status": "error", "error": "the input is not a video"})  # the input's fault: no retry
    assert status(client, job_id)["status"] == "error"

    socket = Socket(ws_url(worker, job_id))
    try:
        assert socket.recv()["status"] == "error"
        r = retry(client, job_id, key="retry-1")
        assert r.status_code == 202, r.text
        assert r.json()["job_id"] == job_id and r.json()["job"]["attempt"] == 2
        seen = socket.recv_until("status")
        assert seen[0] == {"type": "retrying", "job_id": job_id, "attempt": 2, "seq": 3}  # the numbers go on
        assert seen[-1]["status"] == "processing"
    finally:
        socket.close()
    second, second_rp = nth_run(fake_runpod, job_id, 2)
    second_cb = second["input"]["callback_url"]
    assert second_rp != first_rp and parse_qs(urlsplit(second_cb).query)["a"] == ["2"]

    replay = retry(client, job_id, key="retry-1")  # the same request again: the same retry
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert retry(client, job_id, user="bob").status_code == 404  # another user's job is not revealed

    # The first attempt's late report moves nothing; its usage is kept on it.
    late = callback(first_cb, {"id": first_rp, "status": "FAILED", "executionTime": 1500, "delayTime": 10})
    assert late.status_code == 200 and late.json()["ignored"] == "earlier_attempt"
    forged = second_cb.replace("a=2", "a=3")
    assert callback(forged, {"status": "complete"}).status_code == 401  # the attempt is signed
    callback(second_cb, {"id": second_rp, "status": "COMPLETED", "executionTime": 2500,
                         "output": {"output_key": f"final_videos/overlay_{job_id}.mp4"}})
    body = status(client, job_id)
    assert body["status"] == "complete" and body["attempt"] == 2 and fake_runpod.runs_of(job_id) == 2
    assert [(a["attempt"], a["runpod_id"], a["outcome"]) for a in body["attempts"]] == [
        (1, first_rp, "error"), (2, second_rp, "complete")]
    assert [a["usage"]["execution_ms"] for a in body["attempts"]] == [1500, 2500]
    assert body["usage"]["execution_ms"] == 4000
    done = retry(client, job_id)
    assert done.status_code == 409 and done.json()["code"] == "not_retryable"
    assert done.json()["job"]["status"] == "complete"


def test_automatic_retries_stop_at_the_limit(client, fake_runpod):
    job_id = start(client, **LONG)
    first, _ = nth_run(fake_runpod, job_id, 1)
    callback(first["input"]["callback_url"], INTERNAL)
    assert status(client, job_id)["status"] in ("queued", "pending", "processing")  # runs again after a backoff
    second, _ = nth_run(fake_runpod, job_id, 2)
    wait_for(lambda: status(client, job_id)["status"] == "processing")
    callback(second["input"]["callback_url"], INTERNAL)  # JOB_MAX_ATTEMPTS=2: this one is final
    body = status(client, job_id)
    assert body["status"] == "error" and body["error"] == INTERNAL["error"] and body["attempt"] == 2
    assert [a["outcome"] for a in body["attempts"]] == ["error", "error"]
    assert fake_runpod.runs_of(job_id) == 2


def test_a_job_no_gpu_took_expires_and_one_that_ran_too_long_times_out(client, fake_runpod):
    waiting = start(client)  # the Worker's defaults: 3 s to get a GPU, 3 s to run
    running = start(client)
    _, waiting_rp = nth_run(fake_runpod, waiting, 1)
    run, running_rp = nth_run(fake_runpod, running, 1)
    # RunPod's own minimums (10 s, 5 s): shorter deadlines are the watchdog's alone.
    assert run["policy"] == {"ttl": 10_000, "executionTimeout": 5_000}
    callback(run["input"]["callback_url"], {"status": "progress", "progress": 10})  # a GPU runs it
    fake_runpod.set_status(running_rp, {"id": running_rp, "status": "IN_PROGRESS"})
    # RunPod says nothing either way (IN_QUEUE, IN_PROGRESS): the watchdog enforces both deadlines.
    expired = wait_for(lambda: (s := status(client, waiting))["status"] == "expired" and s, timeout=20)
    timed_out = wait_for(lambda: (s := status(client, running))["status"] == "timed_out" and s, timeout=20)
    assert "queue TTL" in expired["error"] and "running_at" not in expired
    assert expired["usage"] == {"queue_ms": None, "execution_ms": None, "cost_usd": None}
    assert "execution timeout" in timed_out["error"] and "running_at" in timed_out
    wait_for(lambda: {waiting_rp, running_rp} <= set(fake_runpod.cancel_calls))
    # Both may run again, each with fresh deadlines.
    assert retry(client, waiting).status_code == 202


@pytest.mark.parametrize("fields", [{"queue_ttl_s": 9}, {"execution_timeout_s": 4}, {"queue_ttl_s": 86_401},
                                    {"execution_timeout_s": "60"}])
def test_deadlines_out_of_bounds_are_422(client, fields):
    body = {"project_id": 7, "input_key": "working_videos/in.mp4", "params": OVERLAY_PARAMS, **fields}
    r = client.post("/api/export/overlay/start", json=body, headers=token_headers("alice"))
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


def test_a_callback_url_naming_an_attempt_it_was_not_signed_for_is_refused(worker, client, fake_runpod):
    job_id = start(client, **LONG)
    run, _ = nth_run(fake_runpod, job_id, 1)
    url = run["input"]["callback_url"]
    for a in ("2", "1", "x", "0"):
        parts = urlsplit(url)
        query = {**{k: v[0] for k, v in parse_qs(parts.query).items()}, "a": a}
        forged = f"{worker.base_url}{parts.path}?{urlencode(query)}"
        assert callback(forged, {"status": "complete"}).status_code == 401, a
    assert status(client, job_id)["status"] == "processing"
