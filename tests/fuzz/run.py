"""Run schemathesis against a served Worker and summarise what it found.

    result = run_schemathesis(base_url, max_examples=5, work_dir=tmp_path)
    assert result.exit_code == 0, result.output

The run uses every check (`--checks all`), every phase (examples, coverage, fuzzing, stateful),
a valid server API key with `X-User-Id: fuzzer`, this folder's schemathesis.toml and hooks.py.
One worker by default: hypothesis describes strategies with `ast.parse`, which is not thread-safe on
CPython 3.11 (two workers raised `SystemError: AST constructor recursion depth mismatch`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import SERVER_KEY, put_object
from tests.fuzz.hooks import UPLOADED_KEY

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FUZZ_USER = "fuzzer"


@dataclass
class FuzzResult:
    exit_code: int
    output: str
    report: dict
    statuses: Counter = field(default_factory=Counter)  # (method, path, status) -> calls

    @property
    def calls(self) -> int:
        return sum(self.statuses.values())

    def server_errors(self) -> dict[tuple[str, str, int], int]:
        return {k: n for k, n in self.statuses.items() if k[2] >= 500}

    def undocumented(self, spec: dict) -> dict[tuple[str, str, int], int]:
        """Answers whose status the operation does not list (operations outside the document skipped)."""
        found = {}
        for (method, path, status), n in self.statuses.items():
            operation = spec["paths"].get(path, {}).get(method.lower())
            if operation is not None and str(status) not in operation["responses"]:
                found[(method, path, status)] = n
        return found


def run_schemathesis(base_url: str, *, max_examples: int, work_dir: Path, workers: int = 1,
                     seed: int | None = None, phases: str | None = None, timeout_s: float = 1800) -> FuzzResult:
    """Fuzz the Worker at `base_url` (after uploading the input the hooks name) and return the result."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        put_object(client, FUZZ_USER, UPLOADED_KEY, b"fuzz input")
    work_dir.mkdir(parents=True, exist_ok=True)
    status_log = work_dir / "statuses.txt"
    status_log.unlink(missing_ok=True)
    report_dir = work_dir / "report"
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(HERE / "schemathesis.toml"),
        "--no-color", "run", f"{base_url}/openapi.json", "--checks", "all",
        "-H", f"X-User-Id: {FUZZ_USER}",
        "--max-examples", str(max_examples), "--workers", str(workers),
        "--report", "json", "--report-dir", str(report_dir),
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    if phases is not None:
        command += ["--phases", phases]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
           "PYTHONPATH": os.pathsep.join((str(REPO), str(REPO / "src"))),
           "FUZZ_API_KEY": SERVER_KEY, "FUZZ_STATUS_LOG": str(status_log)}
    proc = subprocess.run(command, cwd=work_dir, env=env, capture_output=True, text=True, timeout=timeout_s)
    reports = [r for r in sorted(report_dir.glob("*.json")) if r.stat().st_size]  # empty if the run was cut short
    report = json.loads(reports[-1].read_text()) if reports else {}
    statuses: Counter = Counter()
    if status_log.exists():
        for line in status_log.read_text().splitlines():
            method, path, status = line.split(" ")
            statuses[(method, path, int(status))] += 1
    return FuzzResult(proc.returncode, proc.stdout + proc.stderr, report, statuses)
