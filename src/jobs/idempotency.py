"""Idempotency keys of a user's starts and retries: which job a key names, for 24 hours.

Claimed in the same synchronous step that creates the job (durable_objects/user_jobs.py), so a key
can never name a job that was not created; a key found naming no job (a claim stored by an older
version that died before creating it) is honoured by creating that job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bindings.do_sql import execute, one_or_none

TTL_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Claim:
    job_id: str
    replayed: bool  # the key was used before: `job_id` is the first request's job
    same_request: bool  # ... and with the same request (else the start is refused)


def ensure_schema(sql: Any, tables: set[str]) -> None:
    if "idempotency" not in tables:
        execute(sql, """CREATE TABLE idempotency (key TEXT PRIMARY KEY, job_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
            created_ms INTEGER NOT NULL)""")


def claim(sql: Any, key: str, job_id: str, fingerprint: str, now_ms: int) -> Claim:
    """The job `key` already names (within the TTL), or record that it now names `job_id`."""
    execute(sql, "DELETE FROM idempotency WHERE created_ms < ?", now_ms - TTL_MS)
    found = one_or_none(sql, "SELECT job_id, fingerprint FROM idempotency WHERE key = ?", key)
    if found is not None:
        return Claim(found["job_id"], True, found["fingerprint"] == fingerprint)
    execute(sql, "INSERT INTO idempotency (key, job_id, fingerprint, created_ms) VALUES (?, ?, ?, ?)",
            key, job_id, fingerprint, now_ms)
    return Claim(job_id, False, True)


def release(sql: Any, key: str) -> None:
    """Forget a claim whose request was refused (nothing was done under it)."""
    execute(sql, "DELETE FROM idempotency WHERE key = ?", key)
