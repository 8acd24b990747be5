"""The three ways queue_claims.py measures a queue's claims, each on a fresh queue of a running target.

- `plain`: jobs enqueued 1000 per request, then C claimers claim one job per request until 404.
- `batch`: the same with `max=B`: up to B jobs per claim (this project only; the seed has no batch).
- `long_poll`: C claimers wait for jobs while P producers enqueue J jobs one per request. This
  project's claimers hold `claim?wait_s=20`; the seed's (which cannot wait) poll, sleeping `poll_ms`
  after each 404, as its workers would have to. Per job: enqueue sent → claim answered, and
  enqueue answered → claim answered (a hand-out's answer can beat the enqueue's own: 0 then).

Every mode checks that each job was handed out exactly once (`duplicates`, `missing` must be 0).
Requests go through rawhttp (a lean client: httpx would eat the cores it measures).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from percentiles import pct
from rawhttp import RawHttp


def _job(name: str) -> dict:
    return {"file_name": name, "crf": "23", "preset": "fast"}  # the seed requires crf and preset


def _queue() -> str:
    return "bench-" + uuid.uuid4().hex[:8]


async def _enqueue(http: RawHttp, headers: dict, queue: str, jobs: int) -> list[int]:
    ids: list[int] = []
    for start in range(0, jobs, 1000):
        body = [_job(f"clip-{i}.mp4") for i in range(start, min(jobs, start + 1000))]
        r = await http.request("POST", f"/api/jobs?queue={queue}", headers=headers, json=body)
        assert r.status_code == 201, r.text[:300]
        ids += [row["id"] for row in r.json()]
    return ids


def _handed(expected: list[int], claimed: list[int]) -> dict:
    counts = Counter(claimed)
    return {"duplicates": sum(n - 1 for n in counts.values() if n > 1), "missing": len(set(expected) - set(counts))}


async def drain(base_url: str, headers: dict, jobs: int, claimers: int, batch: int | None) -> dict:
    """`plain` (batch None) and `batch`: claims/s over the claiming phase, per-request latency."""
    queue = _queue()
    http = RawHttp(base_url, claimers + 1, timeout=60)
    expected = await _enqueue(http, headers, queue, jobs)
    claimed: list[int] = []
    latencies: list[float] = []
    requests = 0
    path = f"/api/jobs/claim?queue={queue}" + (f"&max={batch}" if batch else "")

    async def claimer() -> None:
        nonlocal requests
        while True:
            t = time.perf_counter()
            r = await http.request("GET", path, headers=headers)
            requests += 1
            if r.status_code == 404:
                return
            assert r.status_code == 200, r.text[:300]
            latencies.append((time.perf_counter() - t) * 1000)
            body = r.json()
            claimed.extend(j["id"] for j in body["jobs"]) if batch else claimed.append(body["id"])

    t0 = time.perf_counter()
    await asyncio.gather(*(claimer() for _ in range(claimers)))
    elapsed = time.perf_counter() - t0
    return {"claims_per_s": len(claimed) / elapsed, "requests_per_s": requests / elapsed,
            "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99), **_handed(expected, claimed)}


async def _until_waiting(http: RawHttp, headers: dict, queue: str, count: int, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s / 0.05)):
        r = await http.request("GET", f"/api/jobs/stats?queue={queue}", headers=headers)
        if r.json()["waiting"] >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} claimers were not all waiting within {timeout_s} s")


async def long_poll(base_url: str, headers: dict, jobs: int, claimers: int, producers: int,
                    poll_ms: float | None) -> dict:
    """Hand-out latency and rate while claimers wait (poll_ms None: `wait_s=20`; else polling)."""
    queue = _queue()
    http = RawHttp(base_url, claimers + producers + 1, timeout=60)
    answered: dict[int, float] = {}
    claimed: list[int] = []
    all_claimed = asyncio.Event()
    claim_requests = 0
    path = f"/api/jobs/claim?queue={queue}" + ("&wait_s=20" if poll_ms is None else "")

    async def claimer() -> None:
        nonlocal claim_requests
        while True:
            r = await http.request("GET", path, headers=headers)
            claim_requests += 1
            if r.status_code == 404:
                await asyncio.sleep((poll_ms or 0) / 1000)
                continue
            assert r.status_code == 200, r.text[:300]
            job = r.json()
            if job["file_name"] == "stop":
                return
            answered[job["id"]] = time.perf_counter()
            claimed.append(job["id"])
            if len(claimed) >= jobs:
                all_claimed.set()

    sent: dict[int, float] = {}
    done: dict[int, float] = {}
    next_job = iter(range(jobs))

    async def producer() -> None:
        for i in next_job:
            t = time.perf_counter()
            r = await http.request("POST", f"/api/jobs?queue={queue}", headers=headers, json=[_job(f"clip-{i}.mp4")])
            assert r.status_code == 201, r.text[:300]
            (row,) = r.json()
            sent[row["id"]], done[row["id"]] = t, time.perf_counter()

    tasks = [asyncio.create_task(claimer()) for _ in range(claimers)]
    if poll_ms is None:  # every claimer waiting before the first job (the stats count them)
        await _until_waiting(http, headers, queue, claimers)
    before = claim_requests
    t0 = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(producers)))
    await asyncio.wait_for(all_claimed.wait(), 60)
    elapsed = max(answered.values(), default=t0) - t0
    wasted = claim_requests - before - len(claimed)
    stops = [_job("stop")] * claimers
    assert (await http.request("POST", f"/api/jobs?queue={queue}", headers=headers, json=stops)).status_code == 201
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    from_sent = [(answered[j] - sent[j]) * 1000 for j in answered]
    from_done = [max(0.0, answered[j] - done[j]) * 1000 for j in answered]
    return {"claims_per_s": len(claimed) / elapsed if elapsed else 0.0,
            "sent_p50_ms": pct(from_sent, 50), "sent_p90_ms": pct(from_sent, 90), "sent_p99_ms": pct(from_sent, 99),
            "sent_max_ms": max(from_sent), "done_p50_ms": pct(from_done, 50), "done_p90_ms": pct(from_done, 90),
            "done_p99_ms": pct(from_done, 99), "done_max_ms": max(from_done),
            "empty_claims_per_job": wasted / jobs, **_handed(list(sent), claimed)}
