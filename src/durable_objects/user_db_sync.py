"""The alarm's work for one user's `UserJobs`: write the job records the user's database is owed.

Rows of the index marked `db_pending` are owed (user_jobs.py decides when). One run writes up to
`USER_DB_BATCH_MAX` of them in one compare-and-swap of the blob (storage/user_db.py), then clears
the mark of each row whose version is still the one written: a row that changed during the write
stays owed and goes out with the next batch. A failed write is retried with backoff (1 s doubling
to 5 min) for as long as it fails — the database is the user's record, never given up on — and
each failure is logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from backoff import backoff_ms
from bindings.alarm_time import AlarmTime
from bindings.do_sql import execute, rows
from clock import now_ms
from jobs.followups import SYNC_BACKOFF_BASE_S, SYNC_BACKOFF_MAX_S
from outbound import first_line
from storage import user_db

log = logging.getLogger("reel.user_jobs")

# How long owed records wait for others to join them: a burst of starts becomes one write.
USER_DB_BATCH_MS = 1000
USER_DB_BATCH_MAX = 200


class UserDbSync:
    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx, self.env, self.sql = ctx, env, ctx.storage.sql
        execute(self.sql, """CREATE TABLE IF NOT EXISTS user_db_sync (
            id INTEGER PRIMARY KEY CHECK (id = 1), user_id TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0)""")
        self.alarm_time = AlarmTime(ctx.storage)

    async def owed(self, user_id: str, due_ms: int) -> None:
        """Records are owed: make sure an alarm will run, at `due_ms` unless one is set already (which
        stands, even a failure's backoff: the records then wait for that retry)."""
        if await self.alarm_time.current() is not None:
            return
        execute(self.sql, "INSERT OR IGNORE INTO user_db_sync (id, user_id) VALUES (1, ?)", user_id)
        await self.alarm_time.set(due_ms)

    async def run(self) -> None:
        self.alarm_time.forget()  # the alarm that fired is spent
        state = rows(self.sql, "SELECT user_id, failures FROM user_db_sync WHERE id = 1")
        batch = rows(self.sql, "SELECT job_id, version, body, runpod_id, output_key FROM jobs WHERE db_pending = 1 "
                               "LIMIT ?", USER_DB_BATCH_MAX)
        if not state or not batch:
            return
        user_id, failures = state[0]["user_id"], state[0]["failures"]
        try:
            await user_db.record_jobs(self.env.USER_DATA, user_id, [_record(r) for r in batch])
        except Exception as exc:
            failures += 1
            log.warning("user database write for %s failed (%d in a row, %d records waiting): %s",
                        user_id, failures, len(batch), first_line(exc))
            execute(self.sql, "UPDATE user_db_sync SET failures = ? WHERE id = 1", failures)
            # An upsert during the write may have set the alarm already: the earlier time wins.
            await self.alarm_time.no_later_than(now_ms() + backoff_ms(SYNC_BACKOFF_BASE_S, failures,
                                                                      SYNC_BACKOFF_MAX_S))
            return
        for r in batch:
            execute(self.sql, "UPDATE jobs SET db_pending = 0 WHERE job_id = ? AND version = ?",
                    r["job_id"], r["version"])
        execute(self.sql, "UPDATE user_db_sync SET failures = 0 WHERE id = 1")
        if rows(self.sql, "SELECT 1 FROM jobs WHERE db_pending = 1 LIMIT 1"):
            await self.alarm_time.no_later_than(now_ms() + USER_DB_BATCH_MS)


def _record(row: dict) -> dict:
    """What `user_db.record_jobs` takes: the status body plus the RunPod job id and the output key."""
    return {**json.loads(row["body"]), "runpod_job_id": row["runpod_id"], "output_key": row["output_key"]}
