"""This project against the seeds' TypeScript design, side by side on the same runtime and machine.

Usage: .venv/bin/python scripts/bench/compare_peer.py [--rounds 3] [--scenarios starts,status,...]
                                                     [--quick] [--targets seed,project,floor] [--idle 12]
                                                     [--fanout-sizes 1,100,1000]
                                                     [--peer ../shared/peers/seed-ts]
                                                     [--peer-dir /tmp/seed-ts-bench]

Targets (scripts/bench/targets.py): this project served by `wrangler dev` on workerd + Pyodide, and
the seed peer (`../shared/peers/seed-ts`, run from a scratch copy, `npm ci` there once) served by
its own `wrangler dev` on workerd; optionally the Python floor (scripts/bench/floor/: the least a Python
Worker can do for the same calls). All send their jobs to the same fake RunPod
(tests/fakes/runpod_server.py, in a process of its own).

Every scenario runs on a freshly launched target with fresh state, for each round, alternating
which target goes first. Scenarios (scenarios.py, ws_scenarios.py; shared pieces in harness.py,
the CPU sampling in cpu.py, the load client in rawhttp.py):
  starts       16 concurrent starts for 10 s: starts/s, p50/p99
  status       32 concurrent status reads of one job for 10 s: reads/s, p50/p99
  fanout1/100/1000  N WebSocket subscribers on one job, 200 progress callbacks one after the other,
               each waiting until every subscriber has its message: callbacks/s, p50/p99 of
               callback sent → last subscriber has it, the Worker's CPU for the 200 callbacks
  hibernation  10 subscribers, 12 s idle, then 200 callbacks: messages lost
  claims       2000 encode jobs enqueued (1000 per request), 16 claimers until none is left:
               claims/s, duplicates and jobs never handed out (both must be 0)
  cpu          Worker CPU ms per start, status, callback and presign: the workerd runtime's
               utime + stime (/proc) over 200 requests, until it is quiet again (alarms included)
  profile      Worker CPU ms per request of routes of increasing depth (where the CPU goes)
--quick shrinks everything for a smoke run (2 s windows, 20 callbacks, N = 1/20/100, 200 jobs, 30
requests per CPU figure). Prints one Markdown table (ranges over rounds, ratio of the medians)
and exits non-zero if any scenario failed (errors, lost messages, duplicate or missing claims).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "src")]  # targets.py signs callbacks with auth.callback_sig

from fake_runpod_process import FakeRunPodProcess  # noqa: E402
from harness import Context, Metric, Result  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402
from targets import PROFILE_ROUTES, FloorTarget, ProjectTarget, SeedTarget  # noqa: E402

from tests.worker_process import bundle_dir  # noqa: E402

SCENARIO_LIMIT_S = {"fanout1000": 1200, "hibernation": 300}  # each run of a scenario is cut off after this
DEFAULT_LIMIT_S = 600


def run_one(name: str, target, ctx: Context) -> Result:
    """Launch `target` fresh, run one scenario on it within its time limit, stop it whatever happens."""
    t0 = time.monotonic()
    try:
        # The entry counter is a development-only variant of the project (entry_counter.py); the peer is JS.
        target.launch(**({"count_entries": True} if name == "entries" and target.name == "project" else {}))
        launched = time.monotonic() - t0
        limit = SCENARIO_LIMIT_S.get(name, DEFAULT_LIMIT_S) / (2 if ctx.quick else 1)
        result = asyncio.run(asyncio.wait_for(SCENARIOS[name](target, ctx), limit))
        result.notes.append(f"launched in {launched:.1f} s, ran in {time.monotonic() - t0 - launched:.1f} s")
        result.notes = [f"{name} on {target.label}: {note}" for note in result.notes]
        return result
    except Exception as exc:  # a failed scenario is reported, and the others still run
        return Result(failures=[f"{name} on {target.label}: {type(exc).__name__}: {exc}"[:600]])
    finally:
        target.stop()


def cell(values: list[Metric]) -> str:
    if not values:
        return "–"
    fmt = values[0].fmt
    lo, hi = min(v.value for v in values), max(v.value for v in values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}–{fmt.format(hi)}"


def table(results: dict[str, list[Result]], labels: dict[str, str]) -> list[str]:
    order: list[str] = []
    by: dict[tuple[str, str], list[Metric]] = {}
    for target, runs in results.items():
        for result in runs:
            for m in result.metrics:
                if m.name not in order:
                    order.append(m.name)
                by.setdefault((m.name, target), []).append(m)
    others = [t for t in results if t != "seed" and results[t]]  # project, and the Python floor if it ran
    lines = [f"| scenario | {labels['seed']} | " + " | ".join(labels[t] for t in others) + " | "
             + " | ".join(f"{t} ÷ seed" for t in others) + " |", "|---|" + "---|" * (1 + 2 * len(others))]
    for name in order:
        seed = by.get((name, "seed"), [])
        ratios = []
        for t in others:
            mine = by.get((name, t), [])
            ratio = "–"
            if seed and mine and seed[0].ratio:
                a, b = statistics.median(m.value for m in mine), statistics.median(m.value for m in seed)
                ratio = f"{a / b:.2f}×" if b else "–"
            ratios.append(ratio)
        lines.append(f"| {name} | {cell(seed)} | " + " | ".join(cell(by.get((name, t), [])) for t in others)
                     + " | " + " | ".join(ratios) + " |")
    return lines


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` stops the processes it started."""
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="tiny durations and sizes: a smoke run")
    parser.add_argument("--peer", type=Path, default=REPO.parent / "shared" / "peers" / "seed-ts",
                        help="the seed peer's source (never run in place)")
    parser.add_argument("--peer-dir", type=Path, default=Path("/tmp/seed-ts-bench"),
                        help="scratch copy of the peer, where `npm ci` runs once")
    parser.add_argument("--targets", default="seed,project", help="comma list of seed, project (default both)")
    parser.add_argument("--idle", type=float, default=12, help="hibernation: seconds of silence (default 12)")
    parser.add_argument("--fanout-sizes", help="N of fanout1,fanout100,fanout1000 (default 1,100,1000; "
                                               "--quick: 1,20,100)")
    args = parser.parse_args()
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    chosen = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not chosen or set(chosen) - {"seed", "project", "floor"}:
        parser.error("--targets takes seed, project, floor (the Python floor, scripts/bench/floor/)")

    signal.signal(signal.SIGTERM, _interrupted)
    bundle_dir()  # the project's development bundle, built once before any timing
    results: dict[str, list[Result]] = {"seed": [], "project": [], "floor": []}
    started = time.monotonic()
    with FakeRunPodProcess() as fake:
        ctx = Context.make(fake, args.quick)
        ctx.idle_s = args.idle
        if args.fanout_sizes:
            ctx.fanout_sizes = tuple(int(n) for n in args.fanout_sizes.split(","))
        seed = SeedTarget(fake.url, args.peer, args.peer_dir)
        if "seed" in chosen:
            seed.install()
        targets = {"seed": seed, "project": ProjectTarget(fake.url), "floor": FloorTarget(fake.url)}
        for r in range(args.rounds):
            for s, name in enumerate(names):
                order = ["seed", "project", "floor"] if (r + s) % 2 == 0 else ["floor", "project", "seed"]
                for key in (k for k in order if k in chosen):
                    result = run_one(name, targets[key], ctx)
                    results[key].append(result)
                    status = "FAILED: " + "; ".join(result.failures) if result.failures else "ok"
                    print(f"[round {r + 1}] {name} on {targets[key].label}: {status}", file=sys.stderr, flush=True)

    labels = {key: t.label for key, t in targets.items()}
    kind = "smoke run (--quick)" if args.quick else "full run"
    print(f"\n{kind}: {args.rounds} round(s), {len(names)} scenario(s), {time.monotonic() - started:.0f} s\n")
    print("\n".join(table(results, labels)))
    if "profile" in names:
        print("\nProfile routes:\n" + "\n".join(f"- {k}: {v}" for k, v in PROFILE_ROUTES.items()))
    notes = dict.fromkeys(n for runs in results.values() for r in runs for n in r.notes)
    print("\nNotes:\n" + "\n".join(f"- {n}" for n in notes))
    failures = [f for runs in results.values() for r in runs for f in r.failures]
    if failures:
        print("\nFAILED:\n" + "\n".join(f"- {f}" for f in failures))
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # every process started was stopped on the way out
        sys.exit("interrupted: every target and the fake RunPod were stopped")
