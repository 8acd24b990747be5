"""Export jobs in Worker configurations of their own: RunPod down or hanging, the watchdog,
an object evicted and rebuilt, restarts (clean and SIGKILL) mid-job and mid-retry, a replay after a dead
first request. Each test starts its Worker (tests/worker_process.py), so this module runs beside
test_export_jobs.py's shared one."""

from __future__ import annotations

import sqlite3
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from dev_runtime.wrangler_dev import group_alive
from tests.conftest import (
    put_object,
    token_headers,
    worker_env,
)
from tests.integration.export_support import (
    OVERLAY_PARAMS,
    Socket,
    callback,
    start_job,
    start_submitted,
    status,
    ws_url,
)
from tests.waiting import wait_for


@pytest.fixture
def make_worker(tmp_path, fake_runpod):
    from tests.worker_process import worker as make_worker_process

    with ExitStack() as stack:
        def make(**overrides):
            state = tmp_path / f"state-{len(overrides)}-{time.monotonic_ns()}"
            return stack.enter_context(make_worker_process(state, worker_env(fake_runpod.url, **overrides)))

        yield make


def _prepare(c, user="alice"):
    put_object(c, user, "working_videos/in.mp4", b"video")


def test_runpod_down_at_start_then_back(make_worker, fake_runpod):
    w = make_worker(SUBMIT_RETRY_BASE_S="0.3")
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        _prepare(c)
        fake_runpod.mode = "unavailable"
        r = start_job(c)
        assert r.status_code == 202 and r.json()["status"] == "pending"
        job_id = r.json()["job_id"]
        assert status(c, job_id)["status"] == "pending"
        fake_runpod.mode = "ok"
        wait_for(lambda: status(c, job_id)["status"] == "processing", timeout=20)
        assert any(run["input"]["job_id"] == job_id for run in fake_runpod.runs)


def test_runpod_down_for_good_fails_the_job(make_worker, fake_runpod):
    w = make_worker(SUBMIT_RETRY_BASE_S="0.05")
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        _prepare(c)
        fake_runpod.mode = "fail"
        job_id = start_job(c).json()["job_id"]
        body = wait_for(lambda: (s := status(c, job_id))["status"] == "error" and s, timeout=30)
        assert "RunPod" in body["error"]
        fake_runpod.mode = "reject"  # a 400 is not retried: the job fails at its first attempt
        job_id = start_job(c).json()["job_id"]
        body = wait_for(lambda: (s := status(c, job_id))["status"] == "error" and s, timeout=15)
        assert "HTTP 400" in body["error"]
    fake_runpod.mode = "ok"


def test_watchdog_polls_runpod_when_callbacks_stall(make_worker, fake_runpod):
    w = make_worker(STALL_POLL_S="1")
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        _prepare(c)
        fake_runpod.mode = "ok"
        job_id = start_job(c).json()["job_id"]
        _, rp_id = fake_runpod.run_for(job_id)
        fake_runpod.set_status(rp_id, {"id": rp_id, "status": "IN_PROGRESS"})
        wait_for(lambda: len([x for x in fake_runpod.status_calls if x == rp_id]) >= 1, timeout=15)
        fake_runpod.set_status(rp_id, {"id": rp_id, "status": "COMPLETED",
                                       "output": {"output_key": f"final_videos/overlay_{job_id}.mp4"}})
        body = wait_for(lambda: (s := status(c, job_id))["status"] == "complete" and s, timeout=15)
        assert body["output_key"] == f"final_videos/overlay_{job_id}.mp4"


# workerd evicts an idle object after about 10 s in production; under `wrangler dev` it was seen
# rebuilt after 20 s idle. The watchdog period is made longer than the wait so that no alarm wakes it.
EVICTION_IDLE_S = 25


def constructed(w) -> int:
    return w.log_text().count("UserJobs: object constructed")


def test_object_evicted_between_connect_and_broadcast(make_worker, fake_runpod):
    w = make_worker(STALL_POLL_S="600")
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        _prepare(c)
        fake_runpod.mode = "ok"
        job_id, cb = start_submitted(c, fake_runpod)
        # Once the answer of /run is stored: the socket's first message is then the only one before the wait.
        wait_for(lambda: status(c, job_id)["status"] == "processing")
        s = Socket(ws_url(w, job_id))
        try:
            assert s.recv()["status"] == "processing"
            before = constructed(w)
            time.sleep(EVICTION_IDLE_S)  # idle on purpose: there is no event to await, only the runtime's clock
            # The runtime answers the exact ping itself, without waking the object.
            s.conn.send('{"type":"ping"}')
            assert s.recv() == {"type": "pong"}
            assert callback(cb, {"status": "progress", "progress": 33}).status_code == 200
            assert s.recv() == {"type": "progress", "job_id": job_id, "progress": 33, "seq": 2}
            # The callback woke a fresh object (a new constructor run), which still reached the socket.
            assert constructed(w) > before, w.log_tail()
            assert callback(cb, {"status": "complete"}).status_code == 200
            assert s.recv_until("complete")[-1]["type"] == "complete"
        finally:
            s.close()


@pytest.mark.parametrize("how", ["stop", "sigkill"])
def test_restart_mid_job(make_worker, fake_runpod, how):
    w = make_worker()
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        _prepare(c)
        fake_runpod.mode = "ok"
        job_id, cb = start_submitted(c, fake_runpod)
        assert callback(cb, {"status": "progress", "progress": 30}).status_code == 200
    group = w.pid
    if how == "stop":
        w.stop()
    else:
        w.kill()  # the whole process group, wrangler and workerd, with no chance to shut down
    assert not group_alive(group), "a process of the Worker's group outlived it"
    w.start()
    # The callback URL still points at the same port: the job resumes where it was.
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        body = status(c, job_id)
        assert body["status"] == "processing" and body["progress"] == 30
        s = Socket(ws_url(w, job_id))
        try:
            assert s.recv() == {"type": "status", "job_id": job_id, "status": "processing", "progress": 30,
                                "attempt": 1, "seq": 2}
            assert urlsplit(cb).netloc == urlsplit(w.base_url).netloc
            assert callback(cb, {"status": "complete"}).status_code == 200
            assert s.recv_until("complete")[-1]["job_id"] == job_id
        finally:
            s.close()
        assert status(c, job_id)["status"] == "complete"


def test_a_hanging_runpod_does_not_hold_the_start(make_worker, fake_runpod):
    w = make_worker(SUBMIT_RETRY_BASE_S="30", SUBMIT_TIMEOUT_S="2")
    with httpx.Client(base_url=w.base_url, timeout=60) as c:
        _prepare(c)
        fake_runpod.mode = "hang"
        t0 = time.monotonic()
        r = start_job(c)
        elapsed = time.monotonic() - t0
        assert r.status_code == 202 and r.json()["status"] == "pending"
        assert elapsed < 5  # the start never waits for RunPod: submission is the alarm's
        # The alarm's attempt gives up at its timeout and schedules a retry, saying so.
        body = wait_for(lambda: (s := status(c, r.json()["job_id"])).get("message") and s, timeout=30)
        assert "retrying" in body["message"] and body["status"] == "pending"


def _user_jobs_database(w) -> Path:
    """The SQLite file of the one UserJobs object this Worker has (miniflare keeps one per object)."""
    files = [f for f in w.persist_dir.rglob("*.sqlite") if "UserJobs" in f.parent.name and f.name != "metadata.sqlite"]
    assert len(files) == 1, files
    return files[0]


def test_a_replay_creates_the_job_a_dead_first_request_had_claimed(make_worker, fake_runpod):
    # The first request claimed the key, then the process died before it created the job. That
    # moment is made at rest: the claim is written into the stopped Worker's stored state.
    from app.routes.export import request_fingerprint
    from jobs.params import START_MODELS

    w = make_worker()
    fake_runpod.mode = "ok"
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        _prepare(c)
        assert c.get("/api/export/jobs", headers=token_headers("alice")).status_code == 200  # alice's index exists
    w.stop()
    body = {"project_id": 7, "input_key": "working_videos/in.mp4", "params": OVERLAY_PARAMS}
    claimed = "a" * 32
    fingerprint = request_fingerprint("overlay", START_MODELS["overlay"].model_validate(body))
    with sqlite3.connect(_user_jobs_database(w)) as db:
        db.execute("INSERT INTO idempotency (key, job_id, fingerprint, created_ms) VALUES (?, ?, ?, ?)",
                   ("k-dead", claimed, fingerprint, int(time.time() * 1000)))
    w.start()
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        r = c.post("/api/export/overlay/start", json=body,
                   headers={**token_headers("alice"), "Idempotency-Key": "k-dead"})
        assert r.status_code == 202, r.text
        assert r.json()["job_id"] == claimed and r.headers.get("idempotent-replayed") == "true"
        # The job's alarm submits it right after the 202: under load, a moment later.
        wait_for(lambda: status(c, claimed)["status"] == "processing")
        jobs = c.get("/api/export/jobs", headers=token_headers("alice")).json()["jobs"]
        assert [j["job_id"] for j in jobs] == [claimed]
    assert sum(run["input"]["job_id"] == claimed for run in fake_runpod.runs) == 1


def test_restart_while_submission_is_being_retried(make_worker, fake_runpod):
    w = make_worker(SUBMIT_RETRY_BASE_S="1")
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        _prepare(c)
        fake_runpod.mode = "unavailable"
        job_id = start_job(c).json()["job_id"]
        assert status(c, job_id)["status"] == "pending"
    w.kill()  # a crash, not a clean stop: the retry lives only in the object's stored alarm
    fake_runpod.mode = "ok"
    w.start()
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        wait_for(lambda: status(c, job_id)["status"] == "processing", timeout=20)
    assert sum(run["input"]["job_id"] == job_id for run in fake_runpod.runs) == 1
