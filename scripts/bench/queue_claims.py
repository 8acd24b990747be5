"""Claims per second from the encode queue on the real runtime, with concurrent claimers.

Usage: .venv/bin/python scripts/bench/queue_claims.py [--jobs 2000] [--claimers 16] [--rounds 3]

Each round: a fresh queue (its own Durable Object) in one Worker served by `wrangler dev` on
workerd + Pyodide; the jobs are enqueued in batches of 1000, then N claimers (one HTTP/1.1
connection each) claim until the queue answers 404. Reported: claims/s over the claiming phase,
per-claim latency (p50/p99), enqueue time per batch, and duplicates (a job handed out twice) and
missing jobs, both of which must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from percentiles import pct  # noqa: E402

from tests.conftest import SERVER_KEY, worker_env  # noqa: E402
from tests.worker_process import worker as make_worker  # noqa: E402

KEY = {"X-API-Key": SERVER_KEY}


async def one_round(base_url: str, jobs: int, claimers: int) -> dict:
    queue = "bench-" + uuid.uuid4().hex[:8]
    params = {"queue": queue}
    enqueue_ms = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as c:
        for start in range(0, jobs, 1000):
            t = time.perf_counter()
            r = await c.post("/api/jobs", params=params, headers=KEY,
                             json=[{"file_name": f"clip-{i}.mp4", "crf": "23", "preset": "fast"}
                                   for i in range(start, min(jobs, start + 1000))])
            enqueue_ms.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
        expected = {row["id"] for row in (await c.get("/api/jobs", params={**params, "limit": 1000}, headers=KEY)).json()}

    latencies: list[float] = []
    claimed: list[int] = []

    async def claimer() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=httpx.Limits(max_connections=1)) as c:
            while True:
                t = time.perf_counter()
                r = await c.get("/api/jobs/claim", params=params, headers=KEY)
                if r.status_code == 404:
                    return
                r.raise_for_status()
                latencies.append((time.perf_counter() - t) * 1000)
                claimed.append(r.json()["id"])

    t0 = time.perf_counter()
    await asyncio.gather(*(claimer() for _ in range(claimers)))
    elapsed = time.perf_counter() - t0
    counts = Counter(claimed)
    return {"claims": len(claimed), "seconds": elapsed, "claims_per_s": len(claimed) / elapsed,
            "p50_ms": statistics.median(latencies), "p99_ms": pct(latencies, 99),
            "enqueue_ms": enqueue_ms, "duplicates": sum(n - 1 for n in counts.values() if n > 1),
            "missing": jobs - len(counts), "first_page_ok": expected <= set(counts)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--claimers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| round | claims | claims/s | p50 ms | p99 ms | enqueue ms per 1000 | duplicates | missing |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as state, make_worker(Path(state), worker_env()) as w:
        httpx.get(f"{w.base_url}/health", timeout=120).raise_for_status()
        for n in range(1, args.rounds + 1):
            res = asyncio.run(one_round(w.base_url, args.jobs, args.claimers))
            print(f"| {n} | {res['claims']} | {res['claims_per_s']:.0f} | {res['p50_ms']:.0f} | {res['p99_ms']:.0f} "
                  f"| {', '.join(f'{ms:.0f}' for ms in res['enqueue_ms'])} | {res['duplicates']} | {res['missing']} |")
            if res["duplicates"] or res["missing"] or not res["first_page_ok"]:
                sys.exit("FAILED: a job was handed out twice or never")


if __name__ == "__main__":
    main()
