"""Micro-benchmarks of the per-request crypto: URL signing and token checks (pure Python, no I/O).

Usage: .venv/bin/python scripts/bench/bench_signing.py [--n 20000]
Each row is the median of 5 runs of n calls, reported as microseconds per call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from auth import api_keys, callback_sig, tokens  # noqa: E402
from storage import signed_urls, sigv4  # noqa: E402


def per_call_us(fn, n: int) -> float:
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    n = parser.parse_args().n
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    secret = "s" * 40
    token, _ = tokens.mint(secret, "alice", 3600, time.time())
    keys = ",".join(f"key-{i:02d}-{'x' * 30}" for i in range(10))
    cases = {
        "SigV4 presign (R2 GET)": lambda: sigv4.presign_url(
            method="GET", account_id="acct", bucket="b", key="alice/final_videos/overlay_x.mp4",
            access_key_id="AKID", secret_access_key="SECRET", expires_in=3600, now=now),
        "Worker-signed URL sign": lambda: signed_urls.sign(secret, "https://w", "alice/a.mp4", "GET", 2000000000),
        "Worker-signed URL verify": lambda: signed_urls.verify(secret, "alice/a.mp4", "GET", "2000000000", "0" * 64,
                                                                1.0),
        "user token verify (HS256)": lambda: tokens.verify(secret, token, time.time()),
        "API key check (10 keys)": lambda: api_keys.is_valid_key("key-09-" + "x" * 30, keys),
        "callback signature verify": lambda: callback_sig.verify(secret, "job123", "0" * 64),
    }
    print("| operation | µs per call |\n|---|---|")
    for name, fn in cases.items():
        print(f"| {name} | {per_call_us(fn, n):.1f} |")


if __name__ == "__main__":
    main()
