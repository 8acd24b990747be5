"""Claims per second from the encode queue on the real runtime: plain claims, batches, long polls.

Usage: .venv/bin/python scripts/bench/queue_claims.py [--modes plain,batch,long-poll] [--targets project,seed]
           [--jobs 2000] [--claimers 16] [--batch 10] [--lp-jobs 500] [--producers 4] [--poll-ms 100]
           [--rounds 1] [--peer ../shared/peers/seed-ts] [--peer-dir /tmp/seed-ts-bench]

Each round launches each target fresh (this project: `wrangler dev` on workerd + Pyodide as the tests
start it; the seed peer: its `run.sh` on the project's own wrangler, as compare_peer.py runs it) and
runs every mode on a fresh queue (queue_modes.py says what each measures):
- `plain`: `--jobs` enqueued 1000 per request, `--claimers` claiming one per request until 404;
- `batch`: the same with `max=--batch` (this project only: the seed has no batch claim);
- `long-poll`: `--lp-jobs` enqueued one per request by `--producers` while the claimers wait
  (`wait_s=20`; the seed's claimers poll, sleeping `--poll-ms` after each 404).
Every job must be handed out exactly once (the script exits non-zero otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "src")]  # targets.py imports the project's modules

import queue_modes  # noqa: E402
from targets import ProjectTarget, SeedTarget  # noqa: E402

from tests.worker_process import bundle_dir  # noqa: E402

UNUSED_RUNPOD = "http://127.0.0.1:9"  # the queue never calls RunPod

ROWS = {  # mode → (label, key, format) of each row printed
    "plain": [("claims/s", "claims_per_s", "{:.0f}"), ("claim p50 / p99 ms", ("p50_ms", "p99_ms"), "{:.0f}")],
    "batch": [("jobs claimed/s", "claims_per_s", "{:.0f}"), ("claim requests/s", "requests_per_s", "{:.0f}"),
              ("claim p50 / p99 ms", ("p50_ms", "p99_ms"), "{:.0f}")],
    "long-poll": [("hand-outs/s", "claims_per_s", "{:.0f}"),
                  ("enqueue answered → claim answered, p50 / p90 / p99 / max ms",
                   ("done_p50_ms", "done_p90_ms", "done_p99_ms", "done_max_ms"), "{:.1f}"),
                  ("enqueue sent → claim answered, p50 / p90 / p99 / max ms",
                   ("sent_p50_ms", "sent_p90_ms", "sent_p99_ms", "sent_max_ms"), "{:.1f}"),
                  ("claims answered empty per job", "empty_claims_per_job", "{:.2f}")],
}


def run_mode(mode: str, target, args) -> dict | None:
    headers = target.queue_headers
    if mode == "plain":
        return asyncio.run(queue_modes.drain(target.base_url, headers, args.jobs, args.claimers, None))
    if mode == "batch":
        if target.name == "seed":
            return None  # no batch claim in the seed
        return asyncio.run(queue_modes.drain(target.base_url, headers, args.jobs, args.claimers, args.batch))
    poll_ms = args.poll_ms if target.name == "seed" else None
    return asyncio.run(queue_modes.long_poll(target.base_url, headers, args.lp_jobs, args.claimers,
                                             args.producers, poll_ms))


def row_text(result: dict | None, key, fmt: str) -> str:
    if result is None:
        return "–"
    keys = key if isinstance(key, tuple) else (key,)
    return " / ".join(fmt.format(result[k]) for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="plain,batch,long-poll")
    parser.add_argument("--targets", default="project")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--claimers", type=int, default=16)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--lp-jobs", type=int, default=500)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--poll-ms", type=float, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--peer", type=Path, default=REPO.parent / "shared" / "peers" / "seed-ts")
    parser.add_argument("--peer-dir", type=Path, default=Path("/tmp/seed-ts-bench"))
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if set(modes) - set(ROWS):
        parser.error(f"--modes takes {', '.join(ROWS)}")
    names = [t for t in args.targets.split(",") if t]
    if not names or set(names) - {"project", "seed"}:
        parser.error("--targets takes project, seed")

    bundle_dir()  # built before any timing
    targets = {"project": ProjectTarget(UNUSED_RUNPOD), "seed": SeedTarget(UNUSED_RUNPOD, args.peer, args.peer_dir)}
    if "seed" in names:
        targets["seed"].install()
    results: dict[tuple[str, str, int], dict | None] = {}
    failed = []
    for r in range(1, args.rounds + 1):
        for name in names if r % 2 else names[::-1]:
            target = targets[name]
            target.launch()
            try:
                for mode in modes:
                    res = results[(mode, name, r)] = run_mode(mode, target, args)
                    print(f"[round {r}] {mode} on {target.label}: {res}", file=sys.stderr, flush=True)
                    if res is not None and (res["duplicates"] or res["missing"]):
                        failed.append(f"{mode} on {target.label}, round {r}: {res['duplicates']} duplicates, "
                                      f"{res['missing']} missing")
            finally:
                target.stop()

    columns = [(name, r) for name in names for r in range(1, args.rounds + 1)]
    print(f"\n{args.claimers} claimers; plain/batch over {args.jobs} jobs (batch max={args.batch}); long-poll: "
          f"{args.lp_jobs} jobs by {args.producers} producers (seed: polls every {args.poll_ms:.0f} ms)\n")
    print("| mode | measure | " + " | ".join(f"{targets[n].label}, round {r}" for n, r in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for mode in modes:
        for label, key, fmt in ROWS[mode]:
            cells = [row_text(results.get((mode, n, r)), key, fmt) for n, r in columns]
            print(f"| {mode} | {label} | " + " | ".join(cells) + " |")
    if failed:
        sys.exit("FAILED: a job was handed out twice or never: " + "; ".join(failed))


if __name__ == "__main__":
    main()
