"""The encode queue's table and indexes, and the migration of a queue created before priorities.

`rank_ms` is stored, not computed at claim time: it is `created_ms − priority × STEP`, fixed at
enqueue, so the claim index orders by a plain column and a claim reads the index in order (no sort).
A change of STEP (QUEUE_PRIORITY_STEP_S) applies to jobs enqueued after it.
"""

from __future__ import annotations

from typing import Any

from bindings.do_sql import column_names, execute

_TABLE = """CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_name TEXT NOT NULL, crf TEXT, preset TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    created_ms INTEGER NOT NULL, started_ms INTEGER, finished_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
    lease_id TEXT, lease_s INTEGER, lease_expires_ms INTEGER,
    available_ms INTEGER NOT NULL, error TEXT,
    priority INTEGER NOT NULL DEFAULT 0, rank_ms INTEGER NOT NULL DEFAULT 0)"""
# AUTOINCREMENT: an id is never reused after a delete, so a late worker call on a deleted job gets
# 404 instead of acting on a newer job that happens to have the same id.

# Columns added since the first version of the table: (name, definition, how old rows get a value).
_ADDED = (
    ("priority", "INTEGER NOT NULL DEFAULT 0", None),
    ("rank_ms", "INTEGER NOT NULL DEFAULT 0", "UPDATE jobs SET rank_ms = created_ms - priority * ?"),
)

_INDEXES = (
    # Status filters walk one status in id order.
    "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, id)",
    # Claims: pending rows in rank order (`id` breaks ties), `available_ms` and `status` carried along
    # so that a row still backing off is skipped inside the index and the claim's SELECT never reads
    # the table (a covering scan, no sort: tests/unit/test_encode_queue_store.py). Partial, so it holds
    # only what can be claimed. Named with INDEXED BY where used (the planner, without
    # statistics, would take jobs_by_status and sort).
    "CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (rank_ms, id, available_ms, status) WHERE status = 'pending'",
    # The sweep before every call, and the alarm's next expiry, look only at live leases: without
    # this they would scan every in-progress row on every call.
    "CREATE INDEX IF NOT EXISTS jobs_leases ON jobs (lease_expires_ms) WHERE status = 'in_progress'",
)


def ensure(sql: Any, priority_step_ms: int) -> None:
    """Create the table and indexes, or bring an older table up to date (a few statements, run at
    every construction of the object; the column check reads no row)."""
    execute(sql, _TABLE)
    present = set(column_names(sql, "jobs"))
    for name, definition, backfill in _ADDED:
        if name not in present:
            execute(sql, f"ALTER TABLE jobs ADD COLUMN {name} {definition}")
            if backfill:
                execute(sql, backfill, priority_step_ms)
    for statement in _INDEXES:
        execute(sql, statement)
