"""The encode queue's claims like SQS on the real runtime: waiting claims (`wait_s`) answered as soon as
a job is available, batches (`max`), priorities with aging, the waiter bound, and their bad inputs.

One Worker for the module, with a short priority step (aging seen in seconds) and a small waiter bound.
Each test uses its own queue (`?queue=`), i.e. its own Durable Object.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.conftest import worker_env
from tests.integration.queue_support import KEY, enqueue, new_queue

STEP_S = 0.2  # QUEUE_PRIORITY_STEP_S: a priority-9 job passes jobs up to 1.8 s older
MAX_WAITERS = 20


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    from tests.worker_process import worker as make_worker_process

    env = worker_env(QUEUE_PRIORITY_STEP_S=str(STEP_S), QUEUE_MAX_WAITERS=str(MAX_WAITERS))
    with make_worker_process(tmp_path_factory.mktemp("long-poll"), env) as proc:
        yield proc


def waiting(c: httpx.Client, queue: str) -> int:
    return c.get("/api/jobs/stats", params={"queue": queue}, headers=KEY).json()["waiting"]


async def until(predicate, timeout: float = 30, what: str = "condition") -> None:
    """Await an async condition (polled), or fail after `timeout` s: the async twin of tests.waiting.wait_for."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        await asyncio.sleep(0.02)


async def parked(ac: httpx.AsyncClient, queue: str, count: int) -> None:
    async def enough() -> bool:
        r = await ac.get("/api/jobs/stats", params={"queue": queue}, headers=KEY)
        return r.json()["waiting"] >= count
    await until(enough, what=f"{count} claims waiting")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def test_sixteen_waiting_claimers_get_each_of_a_hundred_jobs_once_and_at_once(worker):
    """100 jobs enqueued one by one while 16 claimers wait (`wait_s=20`): every job handed out exactly
    once, each within milliseconds of its enqueue (enqueue answered → claim answered, on this clock)."""
    q, claimers, total = new_queue(), 16, 100
    claimed_at: dict[int, float] = {}
    handed: list[int] = []

    async def claimer(ac: httpx.AsyncClient) -> None:
        while True:
            r = await ac.get("/api/jobs/claim", params={"queue": q, "wait_s": 20}, headers=KEY)
            assert r.status_code == 200, r.text
            job = r.json()
            if job["file_name"] == "stop":
                return
            claimed_at[job["id"]] = time.perf_counter()
            handed.append(job["id"])

    async def run() -> dict[int, float]:
        limits = httpx.Limits(max_connections=claimers + 4)
        async with httpx.AsyncClient(base_url=worker.base_url, timeout=60, limits=limits) as ac:
            tasks = [asyncio.create_task(claimer(ac)) for _ in range(claimers)]
            await parked(ac, q, claimers)
            enqueued_at = {}
            for i in range(total):
                r = await ac.post("/api/jobs", params={"queue": q}, json={"file_name": f"{i}.mp4"}, headers=KEY)
                assert r.status_code == 201, r.text
                enqueued_at[r.json()[0]["id"]] = time.perf_counter()
            async def all_handed() -> bool:  # the last hand-outs' answers may still be on their way
                return len(handed) >= total
            await until(all_handed, what="every job handed out")
            r = await ac.post("/api/jobs", params={"queue": q}, json=[{"file_name": "stop"}] * claimers, headers=KEY)
            assert r.status_code == 201
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
            return enqueued_at

    enqueued_at = asyncio.run(run())
    assert sorted(handed) == sorted(enqueued_at)  # every job, each exactly once
    # A hand-out's answer can beat the enqueue's own answer to the client: count that as 0.
    latency_ms = [max(0.0, claimed_at[j] - enqueued_at[j]) * 1000 for j in enqueued_at]
    summary = {p: round(pct(latency_ms, p), 1) for p in (50, 90, 99, 100)}
    print(f"long-poll hand-out latency ms (enqueue answered -> claim answered), p50/p90/p99/max: {summary}")
    # The target is 100 ms (the run above reports the distribution); on a loaded 2-core machine the
    # bound asserted is looser, but it is far below any polling interval a client would use.
    assert summary[90] <= 100 and summary[100] <= 1000, summary


def test_batch_claims_under_concurrency_hand_out_every_job_once(worker, client):
    q, claimers = new_queue(), 8
    jobs = enqueue(client, q, [{"file_name": f"{i}.mp4"} for i in range(230)])
    batches: list[list[dict]] = []

    async def claimer(ac: httpx.AsyncClient) -> None:
        while True:
            r = await ac.get("/api/jobs/claim", params={"queue": q, "max": 10, "lease_s": 600}, headers=KEY)
            if r.status_code == 404:
                return
            assert r.status_code == 200, r.text
            batches.append(r.json()["jobs"])

    async def run() -> None:
        async with httpx.AsyncClient(base_url=worker.base_url, timeout=60) as ac:
            await asyncio.gather(*(claimer(ac) for _ in range(claimers)))

    asyncio.run(run())
    claimed = [job for batch in batches for job in batch]
    assert sorted(j["id"] for j in claimed) == [j["id"] for j in jobs]  # all, each once
    assert all(1 <= len(batch) <= 10 for batch in batches) and len(batches) >= 23
    assert len({j["lease_id"] for j in claimed}) == len(claimed)  # a lease per job
    assert all(j["status"] == "in_progress" and j["lease_s"] == 600 for j in claimed)
    # Each lease is its own: a job finishes with its lease id and refuses a sibling's.
    first, second = batches[0][0], batches[0][-1]
    if first["id"] != second["id"]:
        r = client.post(f"/api/jobs/{first['id']}/finish", params={"queue": q, "lease_id": second["lease_id"]},
                        headers=KEY)
        assert r.status_code == 409 and r.json()["code"] == "lease_lost"
    r = client.post(f"/api/jobs/{first['id']}/finish", params={"queue": q, "lease_id": first["lease_id"]}, headers=KEY)
    assert r.status_code == 200 and r.json()["status"] == "finished"


def test_bodies_with_and_without_max(client):
    q = new_queue()
    enqueue(client, q, [{"file_name": "a"}, {"file_name": "b"}, {"file_name": "c"}])
    single = client.get("/api/jobs/claim", params={"queue": q}, headers=KEY).json()  # today's body: the row
    assert single["file_name"] == "a" and "jobs" not in single
    one = client.post("/api/jobs/claim", params={"queue": q, "max": 1}, headers=KEY).json()
    assert [j["file_name"] for j in one["jobs"]] == ["b"]
    rest = client.get("/api/jobs/claim", params={"queue": q, "max": 10}, headers=KEY).json()
    assert [j["file_name"] for j in rest["jobs"]] == ["c"]  # fewer than asked: what there is, at once
    none = client.get("/api/jobs/claim", params={"queue": q, "max": 10}, headers=KEY)
    assert none.status_code == 404 and none.json()["code"] == "no_jobs"


def test_a_wait_with_nothing_to_claim_ends_with_404_after_wait_s(client):
    q = new_queue()
    t = time.perf_counter()
    r = client.get("/api/jobs/claim", params={"queue": q, "wait_s": 1, "max": 5}, headers=KEY)
    elapsed = time.perf_counter() - t
    assert r.status_code == 404 and r.json() == {"error": "No jobs available", "code": "no_jobs"}
    assert 0.95 <= elapsed < 3, elapsed
    assert waiting(client, q) == 0


def test_waiters_are_served_in_the_order_they_came(worker, client):
    q = new_queue()

    async def run() -> list[str]:
        async with httpx.AsyncClient(base_url=worker.base_url, timeout=60) as ac:
            tasks = []
            for n in range(3):  # parked one after the other, each seen waiting before the next comes
                tasks.append(asyncio.create_task(
                    ac.get("/api/jobs/claim", params={"queue": q, "wait_s": 20}, headers=KEY)))
                await parked(ac, q, n + 1)
            for name in ("first", "second", "third"):
                assert (await ac.post("/api/jobs", params={"queue": q}, json={"file_name": name},
                                      headers=KEY)).status_code == 201
            return [(await t).json()["file_name"] for t in tasks]

    assert asyncio.run(run()) == ["first", "second", "third"]


def _claim_while(worker, q: str, action, wait_s: int = 15) -> tuple[dict, float]:
    """Park a claim, run `action` once it waits, and return what the claim got and how long after `action`."""
    async def run():
        async with httpx.AsyncClient(base_url=worker.base_url, timeout=60) as ac:
            task = asyncio.create_task(ac.get("/api/jobs/claim", params={"queue": q, "wait_s": wait_s}, headers=KEY))
            await parked(ac, q, 1)
            t = time.perf_counter()
            await action(ac)
            r = await task
            assert r.status_code == 200, r.text
            return r.json(), time.perf_counter() - t
    return asyncio.run(run())


def test_a_waiter_is_woken_when_a_backoff_ends(worker, client):
    q = new_queue()
    (job,) = enqueue(client, q, {"file_name": "flaky.mp4"})
    client.get("/api/jobs/claim", params={"queue": q}, headers=KEY)

    async def fail(ac):
        r = await ac.post(f"/api/jobs/{job['id']}/fail", params={"queue": q}, json={"error": "x", "retry_in_s": 2},
                          headers=KEY)
        assert r.status_code == 200 and r.json()["status"] == "pending"

    got, after = _claim_while(worker, q, fail)
    assert got["id"] == job["id"] and got["attempts"] == 1
    assert 1.9 <= after < 3.5, after  # at the end of the backoff, by the object's timer


def test_a_waiter_is_woken_when_a_lease_runs_out(worker, client):
    q = new_queue()
    (job,) = enqueue(client, q, {"file_name": "abandoned.mp4"})
    held = client.get("/api/jobs/claim", params={"queue": q, "lease_s": 1}, headers=KEY).json()
    assert held["id"] == job["id"]

    async def nothing(ac):
        return None

    got, after = _claim_while(worker, q, nothing)  # parks: the only job is held
    assert got["id"] == job["id"] and got["attempts"] == 1 and got["error"] == "lease expired"
    assert got["lease_id"] != held["lease_id"] and after < 2.5, after


def test_a_waiter_is_woken_by_a_requeue(worker, client):
    q = new_queue()
    (job,) = enqueue(client, q, {"file_name": "dead.mp4", "max_attempts": 1})
    client.get("/api/jobs/claim", params={"queue": q}, headers=KEY)
    assert client.post(f"/api/jobs/{job['id']}/fail", params={"queue": q}, json={"error": "x"},
                       headers=KEY).json()["status"] == "dead"

    async def requeue(ac):
        assert (await ac.post(f"/api/jobs/{job['id']}/requeue", params={"queue": q}, headers=KEY)).status_code == 200

    got, after = _claim_while(worker, q, requeue)
    assert got["id"] == job["id"] and got["attempts"] == 0 and after < 1.0, after


def test_a_claimer_that_went_away_loses_nothing(worker, client):
    """A client that gives up while its claim waits cannot be seen by the queue (the runtime does not
    cancel the object's call): the job handed to it comes back when its lease runs out."""
    q = new_queue()

    async def give_up() -> None:
        async with httpx.AsyncClient(base_url=worker.base_url, timeout=60) as ac:
            task = asyncio.create_task(ac.get("/api/jobs/claim", params={"queue": q, "wait_s": 20, "lease_s": 1},
                                              headers=KEY))
            await parked(ac, q, 1)
            task.cancel()

    asyncio.run(give_up())
    (job,) = enqueue(client, q, {"file_name": "orphan.mp4"})
    r = client.get("/api/jobs/claim", params={"queue": q, "wait_s": 10}, headers=KEY)
    assert r.status_code == 200 and r.json()["id"] == job["id"], r.text


def test_priority_first_then_aging(client):
    q = new_queue()
    enqueue(client, q, [{"file_name": "p0", "priority": 0}, {"file_name": "p5", "priority": 5},
                        {"file_name": "p9", "priority": 9}, {"file_name": "default"}])
    got = client.get("/api/jobs/claim", params={"queue": q, "max": 10}, headers=KEY).json()["jobs"]
    assert [(j["file_name"], j["priority"]) for j in got] == [("p9", 9), ("p5", 5), ("p0", 0), ("default", 0)]
    # A priority-0 job under a stream of priority-9 jobs is claimed once it is 9 steps old.
    (old,) = enqueue(client, q, {"file_name": "old", "priority": 0})
    start, claims = time.perf_counter(), 0
    while True:
        enqueue(client, q, {"file_name": "urgent", "priority": 9})
        job = client.get("/api/jobs/claim", params={"queue": q}, headers=KEY).json()
        claims += 1
        if job["id"] == old["id"]:
            break
        assert time.perf_counter() - start < 9 * STEP_S + 5, "the old job never aged to the front"
    assert claims > 1 and time.perf_counter() - start >= 9 * STEP_S - 0.1


def test_waiters_beyond_the_bound_are_refused_503(worker, client):
    q = new_queue()

    async def run() -> httpx.Response:
        limits = httpx.Limits(max_connections=MAX_WAITERS + 4)
        async with httpx.AsyncClient(base_url=worker.base_url, timeout=60, limits=limits) as ac:
            tasks = [asyncio.create_task(ac.get("/api/jobs/claim", params={"queue": q, "wait_s": 20}, headers=KEY))
                     for _ in range(MAX_WAITERS)]
            await parked(ac, q, MAX_WAITERS)
            refused = await ac.get("/api/jobs/claim", params={"queue": q, "wait_s": 1}, headers=KEY)
            at_once = await ac.get("/api/jobs/claim", params={"queue": q}, headers=KEY)  # no wait: no bound
            assert at_once.status_code == 404
            r = await ac.post("/api/jobs", params={"queue": q}, json=[{"file_name": "x"}] * MAX_WAITERS, headers=KEY)
            assert r.status_code == 201
            assert [r.status_code for r in await asyncio.gather(*tasks)] == [200] * MAX_WAITERS
            return refused

    refused = asyncio.run(run())
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "too_many_waiters" and refused.json()["limit"] == MAX_WAITERS
    assert waiting(client, q) == 0


@pytest.mark.parametrize("params", [
    {"wait_s": -1}, {"wait_s": 21}, {"wait_s": "soon"}, {"wait_s": 1.5}, {"wait_s": ""},
    {"max": 0}, {"max": 11}, {"max": "all"}, {"max": 2.5},
])
def test_bad_claim_params_are_422(client, params):
    q = new_queue()
    enqueue(client, q, {"file_name": "kept.mp4"})
    for method in ("GET", "POST"):
        r = client.request(method, "/api/jobs/claim", params={"queue": q, **params}, headers=KEY)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "validation_error" and "Traceback" not in r.text
    assert client.get("/api/jobs/stats", params={"queue": q}, headers=KEY).json()["pending"] == 1


@pytest.mark.parametrize("priority", [-1, 10, "5", True, 1.5, None])
def test_bad_priorities_are_422_and_create_nothing(client, priority):
    q = new_queue()
    r = client.post("/api/jobs", params={"queue": q}, json=[{"file_name": "a"}, {"file_name": "b", "priority": priority}],
                    headers=KEY)
    assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    assert any("priority" in d["loc"] for d in r.json()["details"])
    assert client.get("/api/jobs/stats", params={"queue": q}, headers=KEY).json()["total"] == 0


def test_the_openapi_document_names_the_new_params(client):
    spec = client.get("/openapi.json").json()
    claim = spec["paths"]["/api/jobs/claim"]["get"]
    params = {p["name"]: p["schema"] for p in claim["parameters"]}
    assert (params["wait_s"]["minimum"], params["wait_s"]["maximum"]) == (0, 20)
    assert any(option.get("maximum") == 10 for option in params["max"].get("anyOf", [params["max"]]))
    assert "503" in claim["responses"]
    assert "priority" in spec["components"]["schemas"]["QueueJob"]["properties"]
    assert "jobs" in spec["components"]["schemas"]["QueueClaimed"]["properties"]
