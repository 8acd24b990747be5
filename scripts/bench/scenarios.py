"""The scenarios compare_peer.py runs against one freshly launched target (targets.py).

Each is an async function `(target, ctx) -> Result` (harness.py); the WebSocket ones are in
ws_scenarios.py. `SCENARIOS` names them for `--scenarios`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import Counter

import entry_counter
from cpu import CpuMeter
from harness import (
    Context,
    Result,
    checked,
    client_cpu_s,
    closed_loop,
    http_client,
    new_job,
    prepare,
    runpod_runs,
    send,
    wait_runs,
    warm_up,
)
from percentiles import pct
from rawhttp import RawHttp
from targets import SERVER_KEY, Call
from ws_scenarios import fanout, hibernation


# -- throughput -------------------------------------------------------------------------------------
async def starts(target, ctx: Context, concurrency: int = 16) -> Result:
    res = Result()
    await prepare(target)
    async with http_client(target, concurrency) as http:
        runs_before = await runpod_runs(ctx)
        cpu0 = client_cpu_s()
        ms, errors, elapsed = await closed_loop(http, target.start, concurrency, ctx.starts_s)
        client = client_cpu_s() - cpu0
        # The project answers before RunPod has the job; count how long its alarms take to catch up.
        t0, started = time.monotonic(), len(ms) + concurrency  # the warm-up's starts too
        submitted = await wait_runs(ctx, runs_before + started, 120) - runs_before
        drained = time.monotonic() - t0
    res.add(f"starts/s, {concurrency} concurrent, {ctx.starts_s:g} s", len(ms) / elapsed)
    res.add("start p50 ms", statistics.median(ms) if ms else float("nan"))
    res.add("start p99 ms", pct(ms, 99) if ms else float("nan"))
    res.add("start: s after the window until RunPod had every job", drained, "{:.1f}", ratio=False)
    res.add("start errors", len(errors), ratio=False)
    res.notes.append(f"{started} answered (warm-up included), {submitted} submitted to RunPod; harness CPU "
                     f"{client * 1000 / max(1, len(ms)):.1f} ms per start")
    if errors:
        res.failures.append(f"starts: {len(errors)} errors ({Counter(errors).most_common(3)})")
    if submitted < started:
        res.failures.append(f"starts: only {submitted} of {started} jobs reached RunPod within 120 s")
    return res


async def status_reads(target, ctx: Context, concurrency: int = 32) -> Result:
    res = Result()
    await prepare(target)
    async with http_client(target, concurrency) as http:
        job_id = await new_job(target, http, ctx)
        cpu0 = client_cpu_s()
        ms, errors, elapsed = await closed_loop(http, lambda: target.status(job_id), concurrency, ctx.status_s)
        client = client_cpu_s() - cpu0
    res.add(f"status reads/s, {concurrency} concurrent, {ctx.status_s:g} s", len(ms) / elapsed)
    res.add("status p50 ms", statistics.median(ms) if ms else float("nan"))
    res.add("status p99 ms", pct(ms, 99) if ms else float("nan"))
    res.add("status errors", len(errors), ratio=False)
    res.notes.append(f"harness CPU {client * 1000 / max(1, len(ms)):.1f} ms per read")
    if errors:
        res.failures.append(f"status: {len(errors)} errors ({Counter(errors).most_common(3)})")
    return res


# -- the encode queue -------------------------------------------------------------------------------
async def claims(target, ctx: Context) -> Result:
    res, jobs = Result(), ctx.claim_jobs
    headers = target.queue_headers
    async with http_client(target, ctx.claimers) as http:
        expected: list[int] = []
        for start in range(0, jobs, 1000):
            batch = [{"file_name": f"clip-{i}.mp4", "crf": "23", "preset": "fast"}
                     for i in range(start, min(jobs, start + 1000))]
            expected += [row["id"] for row in (await checked(http, Call("POST", "/api/jobs", 201, headers, batch))).json()]
        claimed: list[int] = []
        latencies: list[float] = []
        errors: list[str] = []

        async def claimer() -> None:
            while True:
                t0 = time.perf_counter()
                r = await send(http, Call("GET", "/api/jobs/claim", 200, headers))
                if r.status_code == 404:
                    return
                if r.status_code != 200:
                    errors.append(f"HTTP {r.status_code}")
                    if len(errors) > 50:
                        return
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                claimed.append(r.json()["id"])

        t0 = time.monotonic()
        await asyncio.gather(*(claimer() for _ in range(ctx.claimers)))
        elapsed = time.monotonic() - t0
    duplicates = sum(c - 1 for c in Counter(claimed).values() if c > 1)
    missing = len(set(expected) - set(claimed))
    res.add(f"claims/s, {ctx.claimers} claimers over {jobs} jobs", len(claimed) / elapsed)
    res.add("claim p50 ms", statistics.median(latencies) if latencies else float("nan"))
    res.add("claim p99 ms", pct(latencies, 99) if latencies else float("nan"))
    res.add("claims: duplicates", duplicates, ratio=False)
    res.add("claims: jobs never handed out", missing, ratio=False)
    if duplicates or missing or errors:
        res.failures.append(f"claims: {duplicates} duplicates, {missing} missing, {len(errors)} errors")
    return res


# -- CPU per request --------------------------------------------------------------------------------
async def cpu_of(http: RawHttp, meter: CpuMeter, calls, n: int, concurrency: int = 4,
                 runpod: Context | None = None) -> tuple[float, float]:
    """Runtime and proxy CPU ms per request over `n` requests made by `calls(i)`, from before the
    first until the runtime is quiet again (so work a request leaves to an alarm counts), minus
    what the runtime spends idle over the same time. With `runpod`, each request is a start and
    the measure also waits until RunPod has all `n` jobs (the project submits from alarms)."""
    await warm_up(http, lambda: calls(n), 8)
    await asyncio.to_thread(meter.settle)
    idle = await asyncio.to_thread(meter.idle_rate)
    runs = await runpod_runs(runpod) if runpod else 0
    queue = iter(range(n))
    before = meter.sample()

    async def worker() -> None:
        for i in queue:
            await checked(http, calls(i))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if runpod and await wait_runs(runpod, runs + n, 120) < runs + n:
        raise AssertionError(f"not all {n} starts reached RunPod within 120 s")
    spent = await asyncio.to_thread(meter.settle) - before
    return (spent.runtime_ms - idle * spent.at) / n, spent.proxy_ms / n


async def cpu_per_request(target, ctx: Context) -> Result:
    res, n = Result(), ctx.cpu_requests
    meter = CpuMeter(target.pgid)
    await prepare(target)
    async with http_client(target) as http:
        job_id = await new_job(target, http, ctx)
        tag = uuid.uuid4().hex[:8]
        kinds = {
            "start": (lambda i: target.start(), ctx),
            "status": (lambda i: target.status(job_id), None),
            # A new message each time, so each one is stored and broadcast (to no subscriber).
            "callback": (lambda i: target.callback(job_id, {"status": "progress", "progress": 1,
                                                            "message": f"{tag}-{i}"}), None),
            "presign": (lambda i: target.presign(), None),
        }
        if not hasattr(target, "presign"):  # the Python floor signs nothing
            del kinds["presign"]
        for kind, (calls, runpod) in kinds.items():
            runtime, proxy = await cpu_of(http, meter, calls, n, runpod=runpod)
            res.add(f"Worker CPU ms per {kind}", runtime, "{:.1f}")
            res.notes.append(f"{kind}: wrangler's proxy workerd {proxy:.1f} ms per request (tooling, not billed)")
    return res


async def profile(target, ctx: Context) -> Result:
    """CPU per request of routes of increasing depth (targets.PROFILE_ROUTES)."""
    res, n = Result(), ctx.cpu_requests
    meter = CpuMeter(target.pgid)
    await prepare(target)
    async with http_client(target) as http:
        job_id = await new_job(target, http, ctx)
        await asyncio.to_thread(meter.settle)
        for route, call in target.profile_calls(job_id).items():
            runtime, _ = await cpu_of(http, meter, lambda i, call=call: call, n)
            res.add(f"profile: Worker CPU ms per request, {route}", runtime, "{:.1f}")
    return res


# -- entries into Python ------------------------------------------------------------------------------
async def _entries(http: RawHttp, target) -> dict:
    """The counts so far (zeroed as they are read), once they have stopped moving: work a request left
    to the object's alarm (the user database's batch, 1 s later) is counted with it."""
    reads: list[dict[str, int]] = []
    while len(reads) < 3 or reads[-1]["counts"] != reads[-3]["counts"]:
        await asyncio.sleep(0.6)  # the counts are only readable by polling; two equal reads 1.2 s apart
        reads.append((await checked(http, Call("GET", entry_counter.COUNTS_PATH, 200))).json())
        if len(reads) > 40:
            raise AssertionError(f"entries never settled: {reads[-3:]}")
    await checked(http, Call("GET", entry_counter.COUNTS_PATH + "?reset=1", 200))
    return reads[-1]


async def entries(target, ctx: Context, n: int = 10) -> Result:
    """Entries into Python per start, status read, callback and claim (targets launched with the counter)."""
    res = Result()
    if not getattr(target, "counts_entries", False):
        res.notes.append("not counted: the peer is JavaScript (one entry per request and per object call)")
        return res
    await prepare(target)
    async with http_client(target) as http:
        job_id = await new_job(target, http, ctx)
        queue = {"X-API-Key": SERVER_KEY}
        await checked(http, Call("POST", "/api/jobs", 201, queue, [{"file_name": f"c{i}.mp4"} for i in range(n)]))
        await _entries(http, target)
        runs = await runpod_runs(ctx)
        ops = {
            "start": lambda i: target.start(),
            "status read": lambda i: target.status(job_id),
            "callback": lambda i: target.callback(job_id, {"status": "progress", "progress": 1, "message": f"m{i}"}),
            "claim": lambda i: Call("GET", "/api/jobs/claim", 200, queue),
        }
        for op, call in ops.items():
            for i in range(n):
                await checked(http, call(i))
            if op == "start" and await wait_runs(ctx, runs + n, 60) < runs + n:
                raise AssertionError("not every start reached RunPod")
            seen = await _entries(http, target)
            counts, ms = seen["counts"], seen["ms"]
            res.add(f"entries into Python per {op}", sum(counts.values()) / n, "{:.2f}", ratio=False)
            res.notes.append(f"{op} ×{n}: " + ", ".join(f"{k} {v} ({ms.get(k, 0) / v:.2f} ms each, wall)"
                                                         for k, v in sorted(counts.items())))
    return res


SCENARIOS = {
    "starts": starts,
    "status": status_reads,
    "fanout1": lambda t, c: fanout(t, c, 0),
    "fanout100": lambda t, c: fanout(t, c, 1),
    "fanout1000": lambda t, c: fanout(t, c, 2),
    "hibernation": hibernation,
    "claims": claims,
    "cpu": cpu_per_request,
    "profile": profile,
    "entries": entries,
}
