"""The encode queue on the real runtime: claims under concurrency, leases, retries, bulk inserts,
eviction, a crash with jobs in flight, and every unhappy input. Each test uses its own queue
(`?queue=`), i.e. its own Durable Object, in one Worker."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.integration.queue_support import KEY, enqueue, new_queue
from tests.waiting import wait_for


def claim(c: httpx.Client, queue: str, **params) -> httpx.Response:
    return c.get("/api/jobs/claim", params={"queue": queue, **params}, headers=KEY)


def row(c: httpx.Client, queue: str, job_id: int) -> dict:
    r = c.get(f"/api/jobs/{job_id}", params={"queue": queue}, headers=KEY)
    assert r.status_code == 200, r.text
    return r.json()


def test_enqueue_claim_finish_with_the_seed_shapes(client):
    q = new_queue()
    (job,) = enqueue(client, q, {"file_name": "video.mp4", "crf": "23", "preset": "medium"})
    assert {k: job[k] for k in ("file_name", "crf", "preset", "started", "finished", "status")} == {
        "file_name": "video.mp4", "crf": "23", "preset": "medium", "started": None, "finished": None,
        "status": "pending"}
    assert abs(job["created_at"] - time.time()) < 60
    got = claim(client, q)
    assert got.status_code == 200, got.text
    claimed = got.json()
    assert claimed["id"] == job["id"] and claimed["status"] == "in_progress" and claimed["started"] is not None
    assert claimed["lease_expires_at"] - claimed["started"] in (300, 301)
    none = claim(client, q)
    assert none.status_code == 404 and none.json() == {"error": "No jobs available", "code": "no_jobs"}
    done = client.post(f"/api/jobs/{job['id']}/finish", params={"queue": q}, headers=KEY)
    assert done.status_code == 200 and done.json()["status"] == "finished" and done.json()["finished"] is not None
    # A crf sent as a number is kept as the seed's string.
    assert enqueue(client, q, [{"file_name": "b.mp4", "crf": 28}])[0]["crf"] == "28"


def test_twenty_concurrent_claimers_over_ten_jobs_each_job_once(worker, client):
    q = new_queue()
    jobs = enqueue(client, q, [{"file_name": f"{i}.mp4"} for i in range(10)])

    async def claimer(ac: httpx.AsyncClient) -> list[int]:
        mine = []
        while True:
            r = await ac.get("/api/jobs/claim", params={"queue": q}, headers=KEY)
            if r.status_code == 404:
                return mine
            assert r.status_code == 200, r.text
            mine.append(r.json()["id"])

    async def run() -> list[list[int]]:
        async with httpx.AsyncClient(base_url=worker.base_url, timeout=60) as ac:
            return await asyncio.gather(*(claimer(ac) for _ in range(20)))

    claimed = [job_id for mine in asyncio.run(run()) for job_id in mine]
    assert sorted(claimed) == sorted(j["id"] for j in jobs)  # every job, each exactly once
    for job_id in claimed:  # leave no lease behind for the alarm
        assert client.post(f"/api/jobs/{job_id}/finish", params={"queue": q}, headers=KEY).status_code == 200


def test_an_expired_lease_is_put_back_by_the_alarm(worker, client):
    q = new_queue()
    (job,) = enqueue(client, q, {"file_name": "slow.mp4"})
    first = claim(client, q, lease_s=1).json()
    # Nothing calls the queue now: only its alarm can put the job back, and it says so in the log.
    worker.wait_for_log(lambda log: "alarm put back 1 job(s)" in log, timeout=30)
    back = row(client, q, job["id"])
    assert back["status"] == "pending" and back["attempts"] == 1 and back["error"] == "lease expired"
    second = claim(client, q).json()
    assert second["id"] == job["id"] and second["lease_id"] != first["lease_id"]
    # The first worker's late finish is refused and changes nothing.
    late = client.post(f"/api/jobs/{job['id']}/finish", params={"queue": q, "lease_id": first["lease_id"]},
                       headers=KEY)
    assert late.status_code == 409 and late.json()["code"] == "lease_lost"
    assert row(client, q, job["id"])["status"] == "in_progress"
    ok = client.post(f"/api/jobs/{job['id']}/finish", params={"queue": q, "lease_id": second["lease_id"]},
                     headers=KEY)
    assert ok.status_code == 200 and ok.json()["status"] == "finished"


def test_a_heartbeat_keeps_the_lease(client):
    q = new_queue()
    kept, other = enqueue(client, q, [{"file_name": "kept.mp4"}, {"file_name": "other.mp4"}])
    held = claim(client, q, lease_s=2).json()
    assert held["id"] == kept["id"]
    beat = client.post(f"/api/jobs/{kept['id']}/heartbeat",
                       params={"queue": q, "lease_id": held["lease_id"], "lease_s": 120}, headers=KEY)
    assert beat.status_code == 200 and beat.json()["lease_s"] == 120
    # A lease taken after it and shorter than the renewal: once it has run out, so would have the first.
    timer = claim(client, q, lease_s=3).json()
    assert timer["id"] == other["id"]
    wait_for(lambda: row(client, q, other["id"])["status"] == "pending", timeout=30, what="the timer lease expired")
    assert row(client, q, kept["id"])["status"] == "in_progress"
    assert client.post(f"/api/jobs/{kept['id']}/finish", params={"queue": q}, headers=KEY).status_code == 200
    # The timer job: nobody else holds a lease here any more.
    assert claim(client, q).json()["id"] == other["id"]
    assert client.post(f"/api/jobs/{other['id']}/finish", params={"queue": q}, headers=KEY).status_code == 200


def test_fail_retry_dead_requeue(client):
    q = new_queue()
    (job,) = enqueue(client, q, {"file_name": "bad.mp4", "max_attempts": 2})
    claim(client, q)
    r = client.post(f"/api/jobs/{job['id']}/fail", params={"queue": q}, json={"error": "ffmpeg exit 1"}, headers=KEY)
    assert r.status_code == 200, r.text
    failed = r.json()
    assert failed["status"] == "pending" and failed["attempts"] == 1 and failed["error"] == "ffmpeg exit 1"
    assert failed["available_at"] >= time.time() + 3  # backing off (5 s): not claimable now
    assert claim(client, q).status_code == 404
    # The retry comes when the backoff is over.
    again = wait_for(lambda: (r := claim(client, q)).status_code == 200 and r.json(), timeout=30, what="retry")
    assert again["id"] == job["id"]
    dead = client.post(f"/api/jobs/{job['id']}/fail", params={"queue": q}, json={"error": "again"}, headers=KEY).json()
    assert dead["status"] == "dead" and dead["attempts"] == 2
    assert claim(client, q).status_code == 404
    listed = client.get("/api/jobs", params={"queue": q, "status": "dead"}, headers=KEY)
    assert [j["id"] for j in listed.json()] == [job["id"]] and listed.headers["x-total-count"] == "1"
    not_dead = client.post(f"/api/jobs/{job['id']}/requeue", params={"queue": q}, headers=KEY)
    assert not_dead.status_code == 200 and not_dead.json()["status"] == "pending"
    twice = client.post(f"/api/jobs/{job['id']}/requeue", params={"queue": q}, headers=KEY)
    assert twice.status_code == 409 and twice.json()["code"] == "not_dead"
    assert claim(client, q).json()["id"] == job["id"]
    assert client.post(f"/api/jobs/{job['id']}/finish", params={"queue": q}, headers=KEY).status_code == 200


def test_a_bulk_of_1000_then_a_claim_and_pages(client):
    q = new_queue()
    jobs = enqueue(client, q, [{"file_name": f"clip-{i:04}.mp4", "crf": "23"} for i in range(1000)])
    assert len(jobs) == 1000 and [j["file_name"] for j in jobs] == [f"clip-{i:04}.mp4" for i in range(1000)]
    first = claim(client, q).json()
    assert first["id"] == jobs[0]["id"]
    page = client.get("/api/jobs", params={"queue": q, "status": "pending", "limit": 50, "offset": 100}, headers=KEY)
    assert page.status_code == 200 and page.headers["x-total-count"] == "999"
    assert [j["id"] for j in page.json()] == [j["id"] for j in jobs[101:151]]
    stats = client.get("/api/jobs/stats", params={"queue": q}, headers=KEY).json()
    assert stats == {"pending": 999, "in_progress": 1, "finished": 0, "dead": 0, "total": 1000, "waiting": 0}
    gone = client.delete(f"/api/jobs/{first['id']}", params={"queue": q}, headers=KEY)
    assert gone.status_code == 200 and gone.json() == {"message": "Job deleted successfully"}
    assert client.delete(f"/api/jobs/{first['id']}", params={"queue": q}, headers=KEY).status_code == 404
    # The deleted job's worker finds it gone.
    late = client.post(f"/api/jobs/{first['id']}/finish", params={"queue": q}, headers=KEY)
    assert late.status_code == 404 and late.json()["code"] == "not_found"
    # 1001 rows is refused whole, and nothing of it is kept.
    big = client.post("/api/jobs", params={"queue": q}, headers=KEY,
                      json=[{"file_name": "x"} for _ in range(1001)])
    assert big.status_code == 413 and big.json()["code"] == "too_many_jobs"
    assert client.get("/api/jobs/stats", params={"queue": q}, headers=KEY).json()["total"] == 999


# Credentials on every queue route: tests/integration/test_auth_matrix.py (ROUTES).


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "invalid_json"),
    (b'{"file_name": NaN}', 400, "invalid_json"),
    (b"[" * 100 + b"]" * 100, 400, "json_too_deep"),
    (b'{"file_name": "a", "crf": 1e400}', 400, "number_out_of_range"),
    (b'{"file_name": 5}', 422, "validation_error"),
    (b'{"file_name": ""}', 422, "validation_error"),
    (b'{"file_name": "a\\nb"}', 422, "validation_error"),
    (b'{"file_name": "a", "crf": 64}', 422, "validation_error"),
    (b'{"file_name": "a", "max_attempts": 0}', 422, "validation_error"),
    (b'{"file_name": "a", "max_attempts": true}', 422, "validation_error"),
    (b'{"file_name": "a", "prio": 1}', 422, "validation_error"),
    (b'{"crf": "23"}', 422, "validation_error"),
    (b"[]", 422, "validation_error"),
    (b'"a.mp4"', 422, "validation_error"),
    (b"[" + b",".join([b'{"file_name": "a"}'] * 5) + b', {"file_name": 1}]', 422, "validation_error"),
])
def test_malformed_enqueue_bodies_are_clear_4xx_and_create_nothing(client, body, status, code):
    q = new_queue()
    r = client.post("/api/jobs", params={"queue": q}, content=body,
                    headers={**KEY, "Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and "Traceback" not in r.text
    assert client.get("/api/jobs/stats", params={"queue": q}, headers=KEY).json()["total"] == 0


def test_a_validation_error_names_the_row_and_field(client):
    r = client.post("/api/jobs", params={"queue": new_queue()}, headers=KEY,
                    json=[{"file_name": "ok"}, {"file_name": "ok", "crf": True}])
    assert r.status_code == 422
    assert any(d["loc"][-2:] == [1, "crf"] or d["loc"][-3:-1] == [1, "crf"] for d in r.json()["details"]), r.json()


def test_other_unhappy_inputs(client):
    q = new_queue()
    cases = [
        client.post("/api/jobs", params={"queue": q}, content=b'{"file_name":"a"}', headers={**KEY, "Content-Type": "text/plain"}),
        client.post("/api/jobs", params={"queue": q}, headers={**KEY, "Content-Type": "application/json"},
                    content=json.dumps([{"file_name": "x" * 1000}] * 1100).encode()),
        client.get("/api/jobs/claim", params={"queue": "../other"}, headers=KEY),
        client.get("/api/jobs/claim", params={"queue": q, "lease_s": 0}, headers=KEY),
        client.get("/api/jobs/claim", params={"queue": q, "lease_s": 3601}, headers=KEY),
        client.get("/api/jobs", params={"queue": q, "status": "lost"}, headers=KEY),
        client.get("/api/jobs", params={"queue": q, "limit": 1001}, headers=KEY),
        client.get("/api/jobs/abc", params={"queue": q}, headers=KEY),
        client.get("/api/jobs/0", params={"queue": q}, headers=KEY),
        client.get("/api/jobs/99999999999999999999", params={"queue": q}, headers=KEY),
        client.post("/api/jobs/1/fail", params={"queue": q}, json={"error": "x", "retry_in_s": -1}, headers=KEY),
        client.post("/api/jobs/1/fail", params={"queue": q}, json={}, headers=KEY),
    ]
    assert [r.status_code for r in cases] == [415, 413, 422, 422, 422, 422, 422, 404, 404, 404, 422, 422]
    assert all("code" in r.json() for r in cases)
    (job,) = enqueue(client, q, {"file_name": "a"})
    for verb in ("heartbeat", "finish"):
        r = client.post(f"/api/jobs/{job['id']}/{verb}", params={"queue": q}, headers=KEY)
        assert r.status_code == 404 and r.json()["code"] == "not_started"
    r = client.post(f"/api/jobs/{job['id']}/fail", params={"queue": q}, json={"error": "x"}, headers=KEY)
    assert r.status_code == 404 and r.json()["code"] == "not_started"


# workerd evicts an idle object; under `wrangler dev` it was seen rebuilt after 20 s idle (see
# test_export_jobs). No other queue of this module holds a lease by now, so no alarm wakes one.
EVICTION_IDLE_S = 25


def test_a_queue_evicted_between_enqueue_and_claim(worker, client):
    q = new_queue()
    jobs = enqueue(client, q, [{"file_name": "a"}, {"file_name": "b"}])
    before = worker.log_text().count("EncodeQueue: object constructed")
    time.sleep(EVICTION_IDLE_S)  # idle on purpose: the runtime's clock is the only thing to wait for
    got = claim(client, q)
    assert got.status_code == 200 and got.json()["id"] == jobs[0]["id"]
    assert worker.log_text().count("EncodeQueue: object constructed") > before, worker.log_tail()
    assert client.post(f"/api/jobs/{jobs[0]['id']}/finish", params={"queue": q}, headers=KEY).status_code == 200


def test_sigkill_with_jobs_in_flight_then_restart(worker):
    q = new_queue()
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        a, b, pending = enqueue(c, q, [{"file_name": "a"}, {"file_name": "b"}, {"file_name": "c"}])
        held_a = claim(c, q).json()
        held_b = claim(c, q, lease_s=2).json()
    worker.kill()
    worker.start()
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        # The long lease survived the crash: its worker finishes it with its lease id.
        done = c.post(f"/api/jobs/{a['id']}/finish", params={"queue": q, "lease_id": held_a["lease_id"]}, headers=KEY)
        assert done.status_code == 200 and done.json()["status"] == "finished"
        # The short lease ran out while the server was down: the job is handed out again, oldest first.
        order = [claim(c, q).json()["id"], claim(c, q).json()["id"]]
        assert order == [b["id"], pending["id"]]
        assert row(c, q, b["id"])["attempts"] == 1 and row(c, q, b["id"])["lease_id"] != held_b["lease_id"]
        assert claim(c, q).status_code == 404
