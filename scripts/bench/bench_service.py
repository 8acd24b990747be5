"""Benchmarks of the service on the real runtime (real HTTP and WebSockets on 127.0.0.1).

Usage: .venv/bin/python scripts/bench/bench_service.py [--cold-starts 3] [--starts 100] [--callbacks 300]
                                                      [--sockets 10]

Measures, against the Worker served by `wrangler dev` on workerd + Pyodide with a fake RunPod endpoint:
  0. cold start: from launching `wrangler dev` to the first 200 from `GET /health` (Python loaded,
     no memory snapshot), each on fresh state;
  1. start latency: sequential `POST /api/export/overlay/start` (each one creates the job's object
     and updates the user's job index before answering; the job's alarm submits it to RunPod);
  2. callback latency: sequential progress callbacks to one job, and the delay from sending a
     callback to its message arriving on each of N WebSocket clients;
  3. listing: `GET /api/export/jobs?limit=100` over the jobs started in (1).
Numbers are wall-clock on this machine and include wrangler's and miniflare's local overhead; they
compare versions of this code on the same runtime, not Cloudflare's edge.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from percentiles import pct  # noqa: E402

from tests.conftest import put_object, token_headers, user_token, worker_env  # noqa: E402
from tests.fakes.runpod_server import FakeRunPod  # noqa: E402
from tests.worker_process import worker as make_worker  # noqa: E402

BODY = {"project_id": 1, "input_key": "working_videos/in.mp4",
        "params": {"highlight_regions": [], "effect_type": "blur"}}


def summary(name: str, ms: list[float]) -> str:
    return (f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {pct(ms, 95):.1f} | {max(ms):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--callbacks", type=int, default=300)
    parser.add_argument("--sockets", type=int, default=10)
    args = parser.parse_args()
    rows = ["| measurement | n | median ms | p95 ms | max ms |", "|---|---|---|---|---|"]
    with FakeRunPod() as fake, tempfile.TemporaryDirectory() as state:
        colds = []
        for i in range(args.cold_starts):
            server = make_worker(Path(state) / f"cold-{i}", worker_env(fake.url))
            t0 = time.perf_counter()
            server.start()
            colds.append((time.perf_counter() - t0) * 1000)
            server.stop()
        if colds:
            rows.append(summary("cold start: launch wrangler dev → first 200", colds))
        with make_worker(Path(state) / "main", worker_env(fake.url)) as worker, \
                httpx.Client(base_url=worker.base_url, timeout=60) as c:
            put_object(c, "bench", "working_videos/in.mp4", b"video")
            headers = token_headers("bench")
            starts = []
            for _ in range(args.starts):
                t0 = time.perf_counter()
                r = c.post("/api/export/overlay/start", json=BODY, headers=headers)
                starts.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 202, r.text
            rows.append(summary("start a job (create + index; submitted by the alarm)", starts))

            job_id = r.json()["job_id"]
            cb = fake.run_for(job_id)[0]["input"]["callback_url"]
            ws_url = f"{worker.ws_url}/api/jobs/{job_id}/ws?token={user_token('bench')}"
            sockets = [connect(ws_url, open_timeout=10).__enter__() for _ in range(args.sockets)]
            for s in sockets:
                s.recv(timeout=10)
            arrivals: list[list[float]] = [[] for _ in sockets]

            def reader(i: int) -> None:
                for _ in range(args.callbacks):
                    json.loads(sockets[i].recv(timeout=30))
                    arrivals[i].append(time.perf_counter())

            threads = [threading.Thread(target=reader, args=(i,)) for i in range(len(sockets))]
            for t in threads:
                t.start()
            sent, answered = [], []
            with httpx.Client(timeout=60) as cbc:
                for i in range(args.callbacks):
                    progress = min(99, i * 100 // args.callbacks)
                    t0 = time.perf_counter()
                    cbc.post(cb, json={"status": "progress", "progress": progress, "message": f"step {i}"})
                    sent.append((time.perf_counter() - t0) * 1000)
                    answered.append(t0)
            for t in threads:
                t.join()
            for s in sockets:
                s.close()
            rows.append(summary("progress callback (persist + broadcast)", sent))
            fanout = [(arr[i] - answered[i]) * 1000 for arr in arrivals for i in range(len(arr))]
            rows.append(summary(f"callback sent → message on each of {args.sockets} sockets", fanout))

            lists = []
            for _ in range(50):
                t0 = time.perf_counter()
                assert c.get("/api/export/jobs", params={"limit": 100}, headers=headers).status_code == 200
                lists.append((time.perf_counter() - t0) * 1000)
            rows.append(summary("list 100 jobs", lists))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
