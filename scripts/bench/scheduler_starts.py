"""Starts per second through the scheduler with 100 users on the real runtime, and what the one
scheduler object of an endpoint spends per call: its capacity (docs/benchmarks.md, "Scheduler").

Usage: .venv/bin/python scripts/bench/scheduler_starts.py [--users 100] [--seconds 10] [--concurrency 16]
                                                          [--drain 10] [--configs base,under,over]
                                                          [--base 744243d]

Each configuration is a fresh Worker (`wrangler dev` on workerd + Pyodide, its entries into Python
counted and timed by entry_counter.py) against the fake RunPod in a process of its own:
- `under`: the limits out of reach: every start is granted by its one `acquire`;
- `over`: the default limits, 2 per user and 4 in all: nearly every start is queued (its position in
  the answer), and everyone's positions are pushed to their objects as they change;
- `base`: the same bench against the commit `--base` (before the scheduler), served from a scratch
  copy of its `src/` and `wrangler.toml`: what a start cost without it.
Then: N users, each with a token, an input, and one start already (warm objects: a user's first start
also builds their object and their database); `concurrency` clients start jobs for the users in turn
for `seconds` s → starts/s, p50/p99; the runtime's CPU per start (cpu.py: until it is quiet again, so
the alarms' pushes and submissions count); each kind of entry (how many, wall ms each: locally the
clock moves with the CPU). `over` then drains: every job RunPod gets is reported complete at once, for
`drain` s → grants/s, and the scheduler's ms per release and per alarm run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "src")]

import entry_counter  # noqa: E402
import httpx  # noqa: E402
from cpu import CpuMeter  # noqa: E402
from fake_runpod_process import FakeRunPodProcess  # noqa: E402
from percentiles import pct  # noqa: E402
from rawhttp import RawHttp, RawHttpError  # noqa: E402

from auth import callback_sig  # noqa: E402
from tests.conftest import SECRETS, token_headers, worker_env  # noqa: E402
from tests.worker_process import worker as make_worker  # noqa: E402

BODY = {"project_id": 1, "input_key": "working_videos/in.mp4", "params": {"highlight_regions": [], "effect_type": "dim"}}
UNBOUNDED = {"MAX_ACTIVE_PER_USER": "100000", "MAX_ACTIVE_TOTAL": "100000"}
CONFIGS = {"base": UNBOUNDED, "under": UNBOUNDED, "over": {"MAX_ACTIVE_PER_USER": "2", "MAX_ACTIVE_TOTAL": "4"}}


async def prepare(base_url: str, users: list[str]) -> None:
    """An input object for every user, through the project's own upload URLs."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as c:
        async def one(user: str) -> None:
            r = await c.post("/api/storage/upload-url", headers=token_headers(user),
                             json={"key": BODY["input_key"], "content_type": "video/mp4"})
            r.raise_for_status()
            (await c.put(r.json()["url"], content=b"video", headers=r.json()["headers"])).raise_for_status()

        for i in range(0, len(users), 10):
            await asyncio.gather(*(one(u) for u in users[i:i + 10]))


async def starts(http: RawHttp, users: list[str], concurrency: int, seconds: float, once_each: bool = False) -> dict:
    """`concurrency` clients starting jobs for the users in turn for `seconds` (`once_each`: one per user)."""
    headers = {u: token_headers(u) for u in users}
    turn = iter(range(len(users) if once_each else 10**9))
    latencies: list[float] = []
    errors: list[str] = []
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while once_each or time.monotonic() < deadline:
            i = next(turn, None)
            if i is None:
                return
            user = users[i % len(users)]
            t0 = time.perf_counter()
            try:
                r = await http.request("POST", "/api/export/overlay/start", headers=headers[user], json=BODY)
            except RawHttpError as exc:
                errors.append(type(exc).__name__)
                continue
            if r.status_code != 202:
                errors.append(f"HTTP {r.status_code}")
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            status = r.json()["status"]
            statuses[status] = statuses.get(status, 0) + 1

    t0 = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return {"latencies": latencies, "errors": errors, "elapsed": time.monotonic() - t0, "statuses": statuses}


async def entries(http: RawHttp) -> dict:
    r = await http.request("GET", entry_counter.COUNTS_PATH + "?reset=1")
    return r.json()


async def drain(http: RawHttp, fake: FakeRunPodProcess, since: int, seconds: float) -> int:
    """Report every job RunPod got (from its `since`th /run on) complete at once, for `seconds`; how many."""
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        jobs, since = await asyncio.to_thread(fake.jobs_since, since)
        if not jobs:
            await asyncio.sleep(0.02)
            continue

        async def report(job_id: str, user: str) -> None:
            sig = callback_sig.sign(SECRETS["CALLBACK_SECRET"], job_id, user)
            await http.request("POST", f"/api/runpod/callback/{job_id}?u={user}&sig={sig}", json={"status": "complete"})

        await asyncio.gather(*(report(j, u) for j, u in jobs))
        done += len(jobs)
    return done


def per_entry(seen: dict, name: str) -> str:
    n, ms = seen["counts"].get(name, 0), seen["ms"].get(name, 0.0)
    return f"{n} × {ms / n:.2f} ms" if n else "0"


def base_checkout(rev: str, dest: Path) -> Path:
    """`src/` and `wrangler.toml` of commit `rev`, in `dest`."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src", "wrangler.toml"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


async def run(config: str, args, fake: FakeRunPodProcess, state: Path) -> list[str]:
    users = [f"user-{i:03d}" for i in range(args.users)]
    source = base_checkout(args.base, state / "base") if config == "base" else REPO
    root = entry_counter.counting_root(state / "root", source)
    w = make_worker(state / "state", worker_env(fake.url, **CONFIGS[config]), root=root)
    w.start(timeout=300)
    try:
        await prepare(w.base_url, users)
        meter = CpuMeter(w.pid)
        http = RawHttp(w.base_url, args.concurrency)
        since = (await asyncio.to_thread(fake.jobs_since, 0))[1]
        warm = await starts(http, users, args.concurrency, 0.0, once_each=True)  # every user's object built
        assert not warm["errors"], warm["errors"][:3]
        await asyncio.to_thread(meter.settle, timeout=120)
        await entries(http)
        idle = await asyncio.to_thread(meter.idle_rate)
        before = meter.sample()
        res = await starts(http, users, args.concurrency, args.seconds)
        spent = await asyncio.to_thread(meter.settle, timeout=60) - before
        seen = await entries(http)
        n, ms = len(res["latencies"]), res["latencies"]
        rows = [f"| {config}: starts/s, {args.users} users, {args.concurrency} concurrent, {args.seconds:g} s "
                f"| {n / res['elapsed']:.0f} |",
                f"| {config}: start p50 / p99 ms | {statistics.median(ms):.0f} / {pct(ms, 99):.0f} |",
                f"| {config}: answered | {res['statuses']}, errors {len(res['errors'])} |",
                f"| {config}: Worker CPU ms per start (alarms included) | "
                f"{(spent.runtime_ms - idle * spent.at) / max(1, n):.1f} |"]
        for name in ("Scheduler.acquire", "Scheduler.alarm", "UserJobs.start", "UserJobs.queue_positions",
                     "UserJobs.alarm"):
            rows.append(f"| {config}: {name} | {per_entry(seen, name)} |")
        if config == "over" and args.drain:
            await entries(http)
            t0 = time.monotonic()
            done = await drain(http, fake, since, args.drain)
            elapsed = time.monotonic() - t0
            await asyncio.sleep(1.5)
            seen = await entries(http)
            rows.append(f"| {config}: jobs ended and slots granted again, per s (4 slots) | {done / elapsed:.1f} |")
            for name in ("Scheduler.release", "Scheduler.alarm", "UserJobs.slot_granted", "UserJobs.queue_positions"):
                rows.append(f"| {config} drain: {name} | {per_entry(seen, name)} |")
        await http.aclose()
        return rows
    finally:
        w.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--drain", type=float, default=10)
    parser.add_argument("--configs", default="base,under,over")
    parser.add_argument("--base", default="744243d", help="the commit before the scheduler, for `base`")
    args = parser.parse_args()
    rows = ["| measure | value |", "|---|---|"]
    with FakeRunPodProcess() as fake, tempfile.TemporaryDirectory(prefix="bench-scheduler-") as tmp:
        for config in args.configs.split(","):
            rows += asyncio.run(run(config, args, fake, Path(tmp) / config))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
