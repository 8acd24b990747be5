"""Every user's job usage in one place, for ranking users (`GET /api/usage/users`): the store of the
`UsageLedger` object. Pure Python over the DO SQL API.

A user's own usage is read from their own object's job rows; ranking users needs all of them, so each
user's object sends its jobs' usage here with its database batch (durable_objects/user_db_sync.py):
one upsert per job, the newest snapshot winning, so a resend changes nothing.
"""

from __future__ import annotations

from typing import Any

from bindings.do_sql import execute, rows
from jobs.usage import totals

LEDGER_NAME = "global"  # the one UsageLedger object (`getByName`)
COLUMNS = ("job_id", "user_id", "created_ms", "type", "status", "execution_ms", "cost_micro_usd")
_UPSERT = (f"INSERT OR REPLACE INTO job_usage ({', '.join(COLUMNS)}) "  # noqa: S608 - the constant column names
           f"VALUES ({', '.join('?' * len(COLUMNS))})")


def ensure_schema(sql: Any) -> None:
    execute(sql, """CREATE TABLE IF NOT EXISTS job_usage (job_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
        created_ms INTEGER NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL, execution_ms INTEGER,
        cost_micro_usd INTEGER)""")
    execute(sql, "CREATE INDEX IF NOT EXISTS job_usage_created ON job_usage (created_ms)")


def record(sql: Any, entries: list[dict]) -> None:
    for e in entries:
        execute(sql, _UPSERT, *(e[c] for c in COLUMNS))


def ranking(sql: Any, from_ms: int, to_ms: int, limit: int) -> list[dict]:
    """Users by cost, then GPU time, over the jobs created in [from_ms, to_ms)."""
    found = rows(sql, """SELECT user_id, COUNT(*) AS jobs, SUM(execution_ms) AS execution_ms,
            SUM(cost_micro_usd) AS cost FROM job_usage WHERE created_ms >= ? AND created_ms < ?
            GROUP BY user_id ORDER BY COALESCE(SUM(cost_micro_usd), 0) DESC, COALESCE(SUM(execution_ms), 0) DESC,
            user_id LIMIT ?""", from_ms, to_ms, limit)
    return [{"user_id": r["user_id"], **totals(r["jobs"], r["execution_ms"], r["cost"])} for r in found]
