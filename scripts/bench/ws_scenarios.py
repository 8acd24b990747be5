"""The WebSocket scenarios of compare_peer.py: fan-out to N subscribers, and hibernation."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections import Counter

from cpu import CpuMeter
from harness import Context, Result, checked, http_client, new_job, prepare
from percentiles import pct
from websockets.asyncio.client import ClientConnection, connect


class Subscribers:
    """N WebSocket clients on one job, each reading until closed; records when each tagged
    progress message reached how many of them."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.n = url, n
        self.sockets: list[ClientConnection] = []
        self.tasks: list[asyncio.Task] = []
        self.count: Counter[str] = Counter()
        self.last: dict[str, float] = {}
        self.everyone: dict[str, asyncio.Event] = {}

    async def _open(self) -> ClientConnection:
        ws = await connect(self.url, open_timeout=60, ping_interval=None, close_timeout=2, max_queue=None)
        # Ready once it answered a ping (whatever came first, e.g. the project's status message, is skipped).
        await ws.send('{"type":"ping"}')
        while json.loads(await asyncio.wait_for(ws.recv(), 30)).get("type") != "pong":
            pass
        return ws

    async def open(self, batch: int = 50) -> None:
        for i in range(0, self.n, batch):
            self.sockets += await asyncio.gather(*(self._open() for _ in range(min(batch, self.n - i))))
        self.tasks = [asyncio.create_task(self._read(ws)) for ws in self.sockets]

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                message = json.loads(raw).get("message")
                if message in self.everyone:
                    self.count[message] += 1
                    if self.count[message] == self.n:
                        self.last[message] = time.perf_counter()
                        self.everyone[message].set()
        except Exception:  # noqa: S110 - a dropped socket shows up as lost messages
            pass

    def expect(self, message: str) -> asyncio.Event:
        self.everyone[message] = asyncio.Event()
        return self.everyone[message]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


WARM_UP_CALLBACKS = 5


def progress_body(tag: str, i: int, total: int) -> dict:
    return {"status": "progress", "progress": min(99, i * 100 // total), "message": f"{tag}-{i}"}


async def fanout(target, ctx: Context, size_index: int) -> Result:
    n, callbacks, res = ctx.fanout_sizes[size_index], ctx.callbacks, Result()
    meter = CpuMeter(target.pgid)
    await prepare(target)
    async with http_client(target) as http:
        job_id = await new_job(target, http, ctx)
        subs = Subscribers(target.websocket(job_id), n)
        t0 = time.monotonic()
        try:
            await subs.open()
            connect_s = time.monotonic() - t0
            tag, latencies, lost = uuid.uuid4().hex[:8], [], 0
            for i in range(WARM_UP_CALLBACKS):  # untimed, as in warm_up()
                await checked(http, target.callback(job_id, {"status": "progress", "message": f"warm-{tag}-{i}"}))
            await asyncio.to_thread(meter.settle)
            cpu0, started = meter.sample(), time.perf_counter()
            for i in range(callbacks):
                body = progress_body(tag, i, callbacks)
                everyone = subs.expect(body["message"])
                sent = time.perf_counter()
                await checked(http, target.callback(job_id, body))
                try:
                    await asyncio.wait_for(everyone.wait(), 30)
                    latencies.append((subs.last[body["message"]] - sent) * 1000)
                except TimeoutError:
                    lost += n - subs.count[body["message"]]
            elapsed = time.perf_counter() - started
            cpu = await asyncio.to_thread(meter.settle) - cpu0
        finally:
            await subs.close()
    label = f"fan-out N={n}"
    res.add(f"{label}: callbacks/s (each waits for every subscriber)", callbacks / elapsed)
    res.add(f"{label}: p50 ms callback → every subscriber", statistics.median(latencies) if latencies else float("nan"),
            "{:.1f}")
    res.add(f"{label}: p99 ms callback → every subscriber", pct(latencies, 99) if latencies else float("nan"), "{:.1f}")
    res.add(f"{label}: Worker CPU s for {callbacks} callbacks (alarms included)", cpu.runtime_ms / 1000, "{:.2f}")
    res.add(f"{label}: messages lost", lost, ratio=False)
    res.notes.append(f"{n} subscribers connected in {connect_s:.1f} s")
    if lost:
        res.failures.append(f"{label}: {lost} of {n * callbacks} messages never arrived")
    return res


async def hibernation(target, ctx: Context) -> Result:
    n, callbacks, res = ctx.hibernation_subscribers, ctx.callbacks, Result()
    meter = CpuMeter(target.pgid)
    await prepare(target)
    async with http_client(target) as http:
        job_id = await new_job(target, http, ctx)
        await asyncio.to_thread(meter.settle)  # the project's alarm work for the start is done
        subs = Subscribers(target.websocket(job_id), n)
        try:
            await subs.open()
            before = target.objects_constructed()
            await asyncio.sleep(ctx.idle_s)  # idle on purpose: no request, no ping, nothing
            tag = uuid.uuid4().hex[:8]
            messages = [progress_body(tag, i, callbacks) for i in range(callbacks)]
            for body in messages:
                subs.expect(body["message"])
                await checked(http, target.callback(job_id, body))
            # Wait for stragglers: until everything arrived, or nothing more came for 3 s (at most 30 s).
            deadline, seen, quiet_since = time.monotonic() + 30, -1, time.monotonic()
            while time.monotonic() < deadline and time.monotonic() - quiet_since < 3:
                total = sum(subs.count.values())
                if total == n * callbacks:
                    break
                if total != seen:
                    seen, quiet_since = total, time.monotonic()
                await asyncio.sleep(0.1)
            after = target.objects_constructed()
        finally:
            await subs.close()
    lost = n * callbacks - sum(subs.count.values())
    res.add(f"hibernation: messages lost, {n} subscribers × {callbacks} callbacks after {ctx.idle_s:g} s idle",
            lost, ratio=False)
    if before is not None:
        rebuilt = after - before
        res.add("hibernation: the job's object was evicted and rebuilt (1 = yes; seed: not observable)",
                1 if rebuilt else 0, ratio=False)
        res.notes.append("the job's object was "
                         + ("evicted and rebuilt during the run" if rebuilt else
                            "NOT rebuilt (not evicted within the idle time: the run did not test hibernation)"))
        if lost:  # the project must not lose any; the seed's losses are the finding
            res.failures.append(f"hibernation: {lost} of {n * callbacks} messages lost")
    return res


