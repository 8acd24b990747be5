"""The scheduler's tables, in its Durable Object's SQLite storage (scheduling/store.py works on them).

- `slots`: a job's attempt holding one of the endpoint's slots, OFFERED (granted to a waiting job; the
  alarm pushes the grant to the user's object until it answers, `offer_due_ms`, after `offer_failures`
  failed pushes) or HELD (the user's object has it), with its lease (`lease_until`).
- `waiting`: an attempt waiting for a slot, with its rank (policy.rank), the lease it will get, and
  `seq`, the order of arrival (ties of rank).
- `users`: each user with slots or waiting jobs: when last served (`last_served`, the turn counter's
  value then; 0: never) and when they came (`joined`, for ties); a user with neither is forgotten, so
  the table holds only the users the scheduler has work for.
- `meta`: the turn counter, and when positions are next to be pushed.
Keyed by (job id, attempt): every attempt asks for its own slot, so a retry's release of the last
attempt and its ask for the next never step on each other, in whatever order they arrive.
"""

from __future__ import annotations

from typing import Any

from bindings.do_sql import execute

OFFERED, HELD = "offered", "held"
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS slots (job_id TEXT NOT NULL, attempt INTEGER NOT NULL, user_id TEXT NOT NULL,
        state TEXT NOT NULL, granted_ms INTEGER NOT NULL, lease_until INTEGER NOT NULL,
        offer_failures INTEGER NOT NULL DEFAULT 0, offer_due_ms INTEGER, PRIMARY KEY (job_id, attempt))""",
    "CREATE INDEX IF NOT EXISTS slots_user ON slots (user_id)",
    "CREATE INDEX IF NOT EXISTS slots_lease ON slots (lease_until)",
    "CREATE INDEX IF NOT EXISTS slots_offers ON slots (offer_due_ms) WHERE offer_due_ms IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS waiting (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL,
        attempt INTEGER NOT NULL, user_id TEXT NOT NULL, rank INTEGER NOT NULL, lease_ms INTEGER NOT NULL,
        UNIQUE (job_id, attempt))""",
    "CREATE INDEX IF NOT EXISTS waiting_turn ON waiting (user_id, rank, seq)",
    """CREATE TABLE IF NOT EXISTS users (joined INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL UNIQUE,
        last_served INTEGER NOT NULL DEFAULT 0)""",
    # positions_due_ms: positions are to be pushed then (NULL: nothing changed); positions_next_ms: not before.
    """CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), turn INTEGER NOT NULL,
        positions_due_ms INTEGER, positions_next_ms INTEGER NOT NULL)""",
    "INSERT OR IGNORE INTO meta (id, turn, positions_due_ms, positions_next_ms) VALUES (1, 0, NULL, 0)",
)


def ensure(sql: Any) -> None:
    for statement in SCHEMA:
        execute(sql, statement)
