"""The user's database in R2 keeps a record of every export job (its creation and its end,
docs/api.md), and the usage ledger every job's GPU usage: which records they are owed, and writing
them, for one user's `UserJobs`. Each batch goes to both (the ledger's upsert and the database's
write are both safe to repeat, so a failure of either retries the batch for both).

A job row with `db_pending` is owed (the lifecycle marks it when the job is created and when it
ends). Owed records wait up to `USER_DB_BATCH_MS` for others to join them, so a burst of starts is
one write of the database instead of one per start: `run` writes up to `USER_DB_BATCH_MAX` of them in
one compare-and-swap of the blob (storage/user_db.py), then clears the mark of each row whose version
is still the one written (a row that changed during the write stays owed and goes out with the next
batch). A failed write is retried with backoff (1 s doubling to 5 min) for as long as it fails — the
database is the user's record, never given up on — and each failure is logged.

When the next write is due is stored here (`due_ms`); the object's one alarm covers it with its jobs'.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from backoff import backoff_ms
from bindings.do_sql import execute, one_or_none, rows
from jobs.followups import SYNC_BACKOFF_BASE_S, SYNC_BACKOFF_MAX_S
from jobs.store import JobTable
from jobs.usage import ledger_entry
from outbound import first_line
from storage import user_db

log = logging.getLogger("reel.user_jobs")

USER_DB_BATCH_MS = 1000
USER_DB_BATCH_MAX = 200


def ensure_schema(sql: Any, tables: set[str]) -> None:
    if "user_db_sync" not in tables:
        execute(sql, """CREATE TABLE user_db_sync (id INTEGER PRIMARY KEY CHECK (id = 1), user_id TEXT NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0, due_ms INTEGER)""")
    elif not rows(sql, "SELECT 1 FROM pragma_table_info('user_db_sync') WHERE name = 'due_ms'"):
        # Written before the object's one alarm covered the sync too: the write is due at once.
        execute(sql, "ALTER TABLE user_db_sync ADD COLUMN due_ms INTEGER")
        execute(sql, "UPDATE user_db_sync SET due_ms = 0")


class UserDbSync:
    def __init__(self, sql: Any, bucket: Any, table: JobTable, ledger: Callable[[list[dict]], Awaitable[Any]]) -> None:
        self.sql, self.bucket, self.table, self.ledger = sql, bucket, table, ledger
        state = one_or_none(sql, "SELECT user_id, failures, due_ms FROM user_db_sync WHERE id = 1")
        self._state = state or {"user_id": None, "failures": 0, "due_ms": None}

    def due_ms(self) -> int | None:
        return self._state["due_ms"]

    def owe(self, user_id: str, due_ms: int) -> None:
        """Records are owed: written by `due_ms`, unless a write is due already (that time stands, even
        a failure's backoff: the records then wait for that retry)."""
        if self._state["due_ms"] is None:
            self._save(user_id, self._state["failures"], due_ms)

    def _save(self, user_id: str, failures: int, due_ms: int | None) -> None:
        execute(self.sql, """INSERT INTO user_db_sync (id, user_id, failures, due_ms) VALUES (1, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, failures = excluded.failures,
            due_ms = excluded.due_ms""", user_id, failures, due_ms)
        self._state = {"user_id": user_id, "failures": failures, "due_ms": due_ms}

    async def run(self, now_ms: int) -> None:
        """Write what is owed, if the write is due."""
        user_id, due = self._state["user_id"], self._state["due_ms"]
        if due is None or due > now_ms or user_id is None:
            return
        batch = self.table.db_owed(USER_DB_BATCH_MAX)
        if not batch:
            self._save(user_id, 0, None)
            return
        writes = (("user database", lambda: user_db.record_jobs(self.bucket, user_id, [j.db_record() for j in batch])),
                  ("usage ledger", lambda: self.ledger([ledger_entry(j) for j in batch])))
        for what, write in writes:
            try:
                await write()
            except Exception as exc:
                failures = self._state["failures"] + 1
                log.warning("%s write for %s failed (%d in a row, %d records waiting): %s",
                            what, user_id, failures, len(batch), first_line(exc))
                self._save(user_id, failures, now_ms + backoff_ms(SYNC_BACKOFF_BASE_S, failures, SYNC_BACKOFF_MAX_S))
                return
        for job in batch:
            self.table.db_written(job.job_id, job.version)
        # Owed again by now (a job created or ended while the write was out): the next batch's window.
        more = bool(self.table.db_owed(1))
        self._save(user_id, 0, now_ms + USER_DB_BATCH_MS if more else None)
