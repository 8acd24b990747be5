"""The encode queue's numbers: leases, attempts, retry backoff, batch and page sizes (docs/api.md)."""

from __future__ import annotations

import backoff

DEFAULT_QUEUE = "default"
QUEUE_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"

DEFAULT_LEASE_S = 300
MIN_LEASE_S, MAX_LEASE_S = 1, 3600

DEFAULT_MAX_ATTEMPTS = 3
MAX_MAX_ATTEMPTS = 20

MAX_BATCH = 1000  # rows in one enqueue; more is 413 `too_many_jobs`
MAX_FILE_NAME = 1024
MAX_CRF, MAX_PRESET = 16, 32
MAX_ERROR_CHARS = 2000
MAX_RETRY_IN_S = 86400

DEFAULT_PAGE, MAX_PAGE = 100, 1000
MAX_OFFSET = 10**9

BACKOFF_BASE_S = 5
BACKOFF_MAX_S = 300

LEASE_EXPIRED = "lease expired"


def backoff_s(attempts: int) -> int:
    """Seconds a failed job waits before it may be claimed again, after its `attempts`-th failure:
    5, 10, 20, ... capped at 300 (so a poison job cannot keep workers busy)."""
    return int(backoff.backoff_s(BACKOFF_BASE_S, attempts, BACKOFF_MAX_S))
