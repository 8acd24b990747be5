"""Fuzz the API from its own /openapi.json with schemathesis, at benchmark size, on the real runtime.

Usage: .venv/bin/python scripts/bench/fuzz_openapi.py [--examples 300] [--seed N] [--phases ...]

Starts the Worker with `wrangler dev` on workerd + Pyodide against the fake RunPod endpoint of
tests/fakes/, then runs schemathesis with every check (`--checks all`) and every phase (examples,
coverage, fuzzing, stateful) at `--examples` per operation, authenticated with a server API key and
`X-User-Id` (tests/fuzz/). Prints a Markdown summary: test cases, calls, failures per check, 5xx,
statuses the document does not list, and the answers per operation. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "src")]  # tests.fuzz.hooks reads bounds from src/

from tests.conftest import worker_env  # noqa: E402
from tests.fakes.runpod_server import FakeRunPod  # noqa: E402
from tests.fuzz.run import FuzzResult, run_schemathesis  # noqa: E402
from tests.worker_process import worker as make_worker  # noqa: E402


def summary(result: FuzzResult, spec: dict, seconds: float, examples: int) -> str:
    report = result.report
    cases = report.get("test_cases", {})
    lines = [
        f"schemathesis {report.get('schemathesis_version', '?')}, seed {report.get('seed', '?')}, "
        f"{examples} examples per operation, {seconds:.0f} s",
        "",
        "| measure | value |", "|---|---|",
        f"| operations tested | {report.get('operations', {}).get('tested', '?')} |",
        f"| test cases generated | {cases.get('generated', '?')} |",
        f"| HTTP calls | {result.calls} |",
        f"| test cases with failures | {cases.get('with_failures', '?')} |",
        f"| test cases errored | {cases.get('errored', '?')} |",
        f"| 5xx answers | {sum(result.server_errors().values())} |",
        f"| answers with a status the document does not list | {sum(result.undocumented(spec).values())} |",
        f"| exit code | {result.exit_code} |",
        "",
    ]
    for failure in report.get("failures", []):
        lines.append(f"- FAILURE {failure['code']} {failure['title']} ×{failure['count']}: "
                     + ", ".join(failure["operations"]))
    per_operation: dict[str, Counter] = defaultdict(Counter)
    for (method, path, status), n in result.statuses.items():
        if path in spec["paths"] and method.lower() in spec["paths"][path]:
            per_operation[f"{method} {path}"][status] += n
    lines += ["", "| operation | answers (status × calls) |", "|---|---|"]
    for operation in sorted(per_operation):
        counts = per_operation[operation]
        lines.append(f"| {operation} | " + ", ".join(f"{s}×{counts[s]}" for s in sorted(counts)) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=300, help="examples per operation")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--phases", default=None, help="default: all (examples,coverage,fuzzing,stateful)")
    args = parser.parse_args()
    with FakeRunPod() as fake, tempfile.TemporaryDirectory() as state:
        # The run starts hundreds of jobs; a watchdog polling each of them every 30 s would turn this
        # into a load test of the watchdog (scripts/bench has its own), so it waits an hour here.
        with make_worker(Path(state) / "worker", worker_env(fake.url, STALL_POLL_S="3600")) as worker:
            spec = httpx.get(f"{worker.base_url}/openapi.json", timeout=30).json()
            started = time.monotonic()
            result = run_schemathesis(worker.base_url, max_examples=args.examples, work_dir=Path(state) / "fuzz",
                                      seed=args.seed, phases=args.phases, timeout_s=3 * 3600)
            seconds = time.monotonic() - started
    print(summary(result, spec, seconds, args.examples))
    if result.exit_code != 0:
        print("\n" + result.output[-20000:])
    return 0 if result.exit_code == 0 and not result.server_errors() and not result.undocumented(spec) else 1


if __name__ == "__main__":
    sys.exit(main())
