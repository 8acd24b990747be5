"""What the scenarios of compare_peer.py share: results, settings, the client, waits and loops.

Scenarios reach a target only through its `Call`s (targets.py), so the same code measures both
APIs. Every request has a timeout, every loop a deadline, every wait a bound.
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass, field

import httpx
from rawhttp import RawHttp, RawHttpError, RawResponse
from targets import Call


@dataclass
class Metric:
    name: str
    value: float
    fmt: str = "{:.0f}"
    ratio: bool = True  # a ratio of the two targets means something (not for counts of failures)


@dataclass
class Result:
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, name: str, value: float, fmt: str = "{:.0f}", ratio: bool = True) -> None:
        self.metrics.append(Metric(name, value, fmt, ratio))


@dataclass
class Context:
    fake: object  # fake_runpod_process.FakeRunPodProcess
    quick: bool
    starts_s: float = 10
    status_s: float = 10
    callbacks: int = 200
    fanout_sizes: tuple[int, ...] = (1, 100, 1000)
    idle_s: float = 12
    hibernation_subscribers: int = 10
    claim_jobs: int = 2000
    claimers: int = 16
    cpu_requests: int = 200

    @classmethod
    def make(cls, fake: object, quick: bool) -> Context:
        if not quick:
            return cls(fake, quick)
        return cls(fake, quick, starts_s=2, status_s=2, callbacks=20, fanout_sizes=(1, 20, 100),
                   claim_jobs=200, cpu_requests=30)


async def prepare(target) -> None:
    """The target's one-off setup (the project's input upload), through httpx."""
    async with httpx.AsyncClient(base_url=target.base_url, timeout=60) as http:
        await target.prepare(http)


def http_client(target, concurrency: int = 8) -> RawHttp:
    """The client of the measured requests: lean, so it leaves the cores to the target."""
    return RawHttp(target.base_url, concurrency)


async def send(http: RawHttp, call: Call) -> RawResponse:
    return await http.request(call.method, call.path, headers=call.headers, json=call.json)


async def checked(http: RawHttp, call: Call) -> RawResponse:
    r = await send(http, call)
    if r.status_code != call.expect:
        raise AssertionError(f"{call.method} {call.path.split('?')[0]} answered {r.status_code}, "
                             f"expected {call.expect}: {r.text[:300]}")
    return r


async def runpod_runs(ctx: Context) -> int:
    return (await asyncio.to_thread(ctx.fake.counts))["runs"]


async def wait_runs(ctx: Context, at_least: int, within_s: float) -> int:
    """Wait until the fake RunPod accepted `at_least` runs in all, or `within_s` s; returns the count."""
    deadline = time.monotonic() + within_s
    while True:
        runs = await runpod_runs(ctx)
        if runs >= at_least or time.monotonic() > deadline:
            return runs
        await asyncio.sleep(0.1)


async def new_job(target, http: RawHttp, ctx: Context) -> str:
    """One started job, once RunPod has it (the project submits from the job's alarm)."""
    runs = await runpod_runs(ctx)
    job_id = (await checked(http, target.start())).json()["job_id"]
    if await wait_runs(ctx, runs + 1, 60) <= runs:
        raise AssertionError(f"job {job_id} never reached RunPod")
    return job_id


async def warm_up(http: RawHttp, make_call, n: int, concurrency: int = 4) -> None:
    """`n` untimed requests first: the first calls of a fresh isolate pay one-off costs (lazy
    imports, caches, the first object of a class), which are not what a scenario measures."""
    queue = iter(range(n))

    async def one_client() -> None:
        for _ in queue:
            await checked(http, make_call())

    await asyncio.gather(*(one_client() for _ in range(concurrency)))


async def closed_loop(http: RawHttp, make_call, concurrency: int, seconds: float) -> tuple:
    """`concurrency` clients, each sending its next request when the last one answered, for
    `seconds` (after a warm-up of `concurrency` requests). Returns (latencies in ms of the expected
    answers, errors, elapsed s)."""
    await warm_up(http, make_call, concurrency)
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    async def one_client() -> None:
        while time.monotonic() < deadline:
            call = make_call()
            t0 = time.perf_counter()
            try:
                r = await send(http, call)
                ok, why = r.status_code == call.expect, f"HTTP {r.status_code}"
            except RawHttpError as exc:
                ok, why = False, type(exc).__name__
            if ok:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors.append(why)

    t0 = time.monotonic()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies, errors, time.monotonic() - t0


def client_cpu_s() -> float:
    """The benchmark process's own CPU seconds (to show the client is not the bottleneck)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


