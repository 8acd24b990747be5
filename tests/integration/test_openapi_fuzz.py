"""The API against its own /openapi.json: schemathesis with every check, on the real runtime.

A small, seeded run (the examples, fuzzing and stateful phases) keeps the suite fast and
reproducible; scripts/bench/fuzz_openapi.py runs every phase, the coverage phase included, at a few
hundred examples per operation with fresh seeds (docs/benchmarks.md).
"""

from __future__ import annotations

import httpx

from tests.fuzz.run import run_schemathesis

SEED = 20261123
EXAMPLES = 8


def test_schemathesis_finds_no_failure(worker, tmp_path):
    spec = httpx.get(f"{worker.base_url}/openapi.json", timeout=30).json()
    result = run_schemathesis(worker.base_url, max_examples=EXAMPLES, work_dir=tmp_path, seed=SEED,
                              phases="examples,fuzzing,stateful", timeout_s=120)
    assert result.calls > 100, result.output  # it did reach the API
    assert result.server_errors() == {}, result.output
    assert result.undocumented(spec) == {}, result.output
    # Every check passed: status codes, content types, response schemas, negative data refused,
    # positive data accepted, unsupported methods 405 with Allow, auth not ignored.
    assert result.exit_code == 0, result.output
    assert result.report["test_cases"]["errored"] == 0, result.output
    assert any(status == 202 for (_, path, status) in result.statuses if path.endswith("/start")), (
        "no start was accepted: the stateful links never reached a real job")
