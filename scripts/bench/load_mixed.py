"""A bounded load test of mixed traffic against the Worker on the real runtime.

Usage: .venv/bin/python scripts/bench/load_mixed.py [--jobs 500] [--duration 60] [--concurrency 32]

Setup: the Worker served by `wrangler dev` on workerd + Pyodide with the watchdog polling every 2 s
(`STALL_POLL_S=2`) and a fake RunPod endpoint on 127.0.0.1 that keeps every job IN_PROGRESS; `--jobs`
jobs are started and left processing, so their alarms poll the fake all along.
Load: for `--duration` seconds, `--concurrency` clients loop over a mix of status reads (50 %),
progress callbacks (25 %), WebSocket subscribers that connect, read the status message and one
broadcast, then close (15 %), and starts (10 %). Every request is bounded by a 30 s timeout, the
loop by the duration: it stops by itself.
Reported: per kind, count, errors (any non-2xx/101 or transport failure), p50 and p99 latency;
the resident memory of the workerd process before and after; RunPod calls during the window
(watchdog polls and submissions), to show the outbound work kept flowing under load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from percentiles import pct  # noqa: E402

from tests.conftest import put_object, token_headers, user_token, worker_env  # noqa: E402
from tests.fakes.runpod_server import FakeRunPod  # noqa: E402
from tests.worker_process import worker as make_worker  # noqa: E402

USER = "loaduser"
BODY = {"project_id": 1, "input_key": "working_videos/in.mp4",
        "params": {"highlight_regions": [], "effect_type": "blur"}}
MIX = [("status", 50), ("callback", 25), ("subscribe", 15), ("start", 10)]


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of the workerd child of the wrangler process `pid` (Linux /proc)."""
    if pid is None:
        return None
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and "workerd" in (entry / "comm").read_text() and \
                    int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pid:
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            continue
    return None


class Load:
    def __init__(self, worker, fake, jobs: list[tuple[str, str]]) -> None:
        self.worker, self.fake, self.jobs = worker, fake, jobs
        self.latency: dict[str, list[float]] = {kind: [] for kind, _ in MIX}
        self.errors: dict[str, int] = {kind: 0 for kind, _ in MIX}
        self.progress = 0

    async def one(self, http: httpx.AsyncClient, kind: str) -> None:
        job_id, callback_url = random.choice(self.jobs)  # noqa: S311 - a load mix, not security
        t0 = time.perf_counter()
        ok = False
        try:
            if kind == "status":
                r = await http.get(f"/api/export/status/{job_id}", headers=token_headers(USER))
                ok = r.status_code == 200
            elif kind == "callback":
                self.progress = self.progress % 99 + 1
                r = await http.post(callback_url, json={"status": "progress", "progress": self.progress,
                                                        "message": f"step {self.progress}"})
                ok = r.status_code == 200
            elif kind == "start":
                r = await http.post("/api/export/overlay/start", json=BODY, headers=token_headers(USER))
                ok = r.status_code == 202
            else:
                url = f"{self.worker.ws_url}/api/jobs/{job_id}/ws?token={user_token(USER)}"
                async with websockets.connect(url, open_timeout=30, close_timeout=5) as ws:
                    first = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    await ws.send('{"type":"status"}')
                    again = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    ok = first["type"] == "status" and again["job_id"] == job_id
        except (TimeoutError, httpx.HTTPError, OSError, websockets.WebSocketException):
            ok = False
        self.latency[kind].append((time.perf_counter() - t0) * 1000)
        if not ok:
            self.errors[kind] += 1

    async def client(self, deadline: float) -> None:
        kinds = [k for k, weight in MIX for _ in range(weight)]
        async with httpx.AsyncClient(base_url=self.worker.base_url, timeout=30) as http:
            while time.monotonic() < deadline:
                await self.one(http, random.choice(kinds))  # noqa: S311


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with FakeRunPod() as fake, tempfile.TemporaryDirectory() as state:
        worker = make_worker(Path(state), worker_env(fake.url, STALL_POLL_S="2"))
        with worker, httpx.Client(base_url=worker.base_url, timeout=60) as c:
            put_object(c, USER, "working_videos/in.mp4", b"video")
            t0 = time.perf_counter()
            ids = []
            for _ in range(args.jobs):
                r = c.post("/api/export/overlay/start", json=BODY, headers=token_headers(USER))
                assert r.status_code == 202, r.text
                ids.append(r.json()["job_id"])
            jobs = []
            for job_id in ids:
                run, runpod_id = fake.run_for(job_id, timeout=300)
                fake.set_status(runpod_id, {"id": runpod_id, "status": "IN_PROGRESS", "output": {"progress": 5}})
                jobs.append((job_id, run["input"]["callback_url"]))
            setup_s = time.perf_counter() - t0
            memory_before = rss_mb(worker.pid)
            polls_before, runs_before = len(fake.status_calls), len(fake.runs)
            load = Load(worker, fake, jobs)
            started = time.monotonic()

            async def run_all() -> None:
                deadline = started + args.duration
                await asyncio.gather(*(load.client(deadline) for _ in range(args.concurrency)))

            asyncio.run(run_all())
            window = time.monotonic() - started
            polls, runs = len(fake.status_calls) - polls_before, len(fake.runs) - runs_before
            memory_after = rss_mb(worker.pid)
    print(f"setup: {args.jobs} jobs started and processing in {setup_s:.1f} s")
    print(f"load: {window:.1f} s at concurrency {args.concurrency}\n")
    print("| kind | requests | errors | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for kind, _ in MIX:
        ms = load.latency[kind]
        if ms:
            print(f"| {kind} | {len(ms)} | {load.errors[kind]} | {statistics.median(ms):.0f} | {pct(ms, 99):.0f} |")
    total = sum(len(v) for v in load.latency.values())
    print(f"\nthroughput: {total / window:.1f} requests/s; errors: {sum(load.errors.values())}")
    print(f"workerd RSS: {memory_before:.0f} MB before, {memory_after:.0f} MB after" if memory_before and memory_after
          else "workerd RSS: not measurable here")
    print(f"RunPod calls during the window: {polls} watchdog polls ({polls / window:.1f}/s; "
          f"{args.jobs / 2:.0f}/s would be every job every 2 s), {runs} submissions")


if __name__ == "__main__":
    main()
