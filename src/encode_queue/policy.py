"""The encode queue's numbers: leases, attempts, retry backoff, claims (waits, batches, priorities),
batch and page sizes (docs/api.md "Encode queue")."""

from __future__ import annotations

import backoff

DEFAULT_QUEUE = "default"
QUEUE_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"

DEFAULT_LEASE_S = 300
MIN_LEASE_S, MAX_LEASE_S = 1, 3600

# A claim may wait for a job (long poll, as SQS's WaitTimeSeconds: 0-20 s) and take up to 10 at once.
MAX_WAIT_S = 20
MAX_CLAIM_BATCH = 10
# Claims parked at once on one queue; beyond, 503 `too_many_waiters` (QUEUE_MAX_WAITERS overrides).
DEFAULT_MAX_WAITERS = 1000

# A job's priority 0-9 (default 0, the lowest) is a head start of `priority` × STEP over its creation
# time: claims take the lowest `created − priority × STEP`, so a priority-9 job passes jobs up to
# 9 STEPs older and a priority-0 job is passed only by jobs created less than 9 STEPs after it: it
# ages to the front (QUEUE_PRIORITY_STEP_S overrides STEP).
MIN_PRIORITY, MAX_PRIORITY = 0, 9
DEFAULT_PRIORITY = 0
DEFAULT_PRIORITY_STEP_S = 60

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
