"""The user's database in R2 keeps a record of every export job (its creation and its end,
docs/api.md), and the usage ledger every job's GPU usage: which records they are owed, and writing
them, for one user's `UserJobs`.

They are two channels, each with its own mark on the job rows (`db_pending`, `ledger_pending`; the
lifecycle sets both), its own failure count and its own due time, run side by side: a ledger that is
down never delays the database's write nor makes it write the same records again, and an R2 outage
never holds up the ranking. Both writes are safe to repeat (an upsert per job, the newest snapshot
winning), so a channel that failed sends its batch again.

Owed records wait up to `USER_DB_BATCH_MS` for others to join them, so a burst of starts is one write
of the database instead of one per start: a channel writes up to `USER_DB_BATCH_MAX` owed records in
one go (for the database, one compare-and-swap of the blob: storage/user_db.py), then clears the mark
of each row whose version is still the one written (a row that changed during the write stays owed
and goes out with the next batch). A failed write is logged and retried with backoff (1 s doubling
to 5 min) for as long as it fails: the records are the user's, never given up on.

When each channel's next write is due is stored here; the object's one alarm covers the earliest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from backoff import backoff_ms
from bindings.do_sql import execute, one_or_none, rows
from jobs.followups import SYNC_BACKOFF_BASE_S, SYNC_BACKOFF_MAX_S
from jobs.model import JobRecord
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
            failures INTEGER NOT NULL DEFAULT 0, due_ms INTEGER, ledger_failures INTEGER NOT NULL DEFAULT 0,
            ledger_due_ms INTEGER)""")
        return
    columns = {r["name"] for r in rows(sql, "SELECT name FROM pragma_table_info('user_db_sync')")}
    if "due_ms" not in columns:
        # Written before the object's one alarm covered the sync too: the write is due at once.
        execute(sql, "ALTER TABLE user_db_sync ADD COLUMN due_ms INTEGER")
        execute(sql, "UPDATE user_db_sync SET due_ms = 0")
    if "ledger_due_ms" not in columns:
        # Written when one batch went to both: what was due for the database is due for the ledger.
        execute(sql, "ALTER TABLE user_db_sync ADD COLUMN ledger_failures INTEGER NOT NULL DEFAULT 0")
        execute(sql, "ALTER TABLE user_db_sync ADD COLUMN ledger_due_ms INTEGER")
        execute(sql, "UPDATE user_db_sync SET ledger_due_ms = due_ms")


@dataclass
class Channel:
    """One store the job records go to, and where its writes stand."""

    what: str  # for the log
    column: str  # its state's columns in `user_db_sync`: "" (failures, due_ms) or "ledger_"
    owed: Callable[[int], list[JobRecord]]  # up to n records owed to it
    written: Callable[[str, int], None]  # (job id, version): that version reached it
    write: Callable[[str, list[JobRecord]], Awaitable[Any]]  # (user id, records)
    failures: int = 0
    due_ms: int | None = None


class UserDbSync:
    def __init__(self, sql: Any, bucket: Any, table: JobTable, ledger: Callable[[list[dict]], Awaitable[Any]]) -> None:
        self.sql = sql
        self.channels = (
            Channel("user database", "", table.db_owed, table.db_written,
                    lambda user_id, batch: user_db.record_jobs(bucket, user_id, [j.db_record() for j in batch])),
            Channel("usage ledger", "ledger_", table.ledger_owed, table.ledger_written,
                    lambda _user_id, batch: ledger([ledger_entry(j) for j in batch])))
        state = one_or_none(sql, "SELECT * FROM user_db_sync WHERE id = 1") or {}
        self.user_id: str | None = state.get("user_id")
        for channel in self.channels:
            channel.failures = state.get(f"{channel.column}failures") or 0
            channel.due_ms = state.get(f"{channel.column}due_ms")

    def due_ms(self) -> int | None:
        """When a write is next due; None when nothing is owed."""
        due = [c.due_ms for c in self.channels if c.due_ms is not None]
        return min(due) if due else None

    def owe(self, user_id: str, due_ms: int) -> None:
        """Records are owed: written by `due_ms`, unless a write is due already (that time stands, even
        a failure's backoff: the records then wait for that retry)."""
        idle = [c for c in self.channels if c.due_ms is None]
        if idle or self.user_id != user_id:
            for channel in idle:
                channel.due_ms = due_ms
            self.user_id = user_id
            self._save()

    def _save(self) -> None:
        (db, ledger) = self.channels
        execute(self.sql, """INSERT INTO user_db_sync (id, user_id, failures, due_ms, ledger_failures, ledger_due_ms)
            VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id,
            failures = excluded.failures, due_ms = excluded.due_ms, ledger_failures = excluded.ledger_failures,
            ledger_due_ms = excluded.ledger_due_ms""",
                self.user_id, db.failures, db.due_ms, ledger.failures, ledger.due_ms)

    async def run(self, now_ms: int) -> None:
        """Write what is owed to each channel whose write is due, side by side."""
        if self.user_id is None:
            return
        due = [c for c in self.channels if c.due_ms is not None and c.due_ms <= now_ms]
        await asyncio.gather(*(self._run(c, self.user_id, now_ms) for c in due))

    async def _run(self, channel: Channel, user_id: str, now_ms: int) -> None:
        batch = channel.owed(USER_DB_BATCH_MAX)
        if batch:
            try:
                await channel.write(user_id, batch)
            except Exception as exc:
                channel.failures += 1
                log.warning("%s write for %s failed (%d in a row, %d records waiting): %s",
                            channel.what, user_id, channel.failures, len(batch), first_line(exc))
                channel.due_ms = now_ms + backoff_ms(SYNC_BACKOFF_BASE_S, channel.failures, SYNC_BACKOFF_MAX_S)
                self._save()
                return
            for job in batch:
                channel.written(job.job_id, job.version)
        # Owed again by now (a job created or ended while the write was out): the next batch's window.
        more = bool(batch) and bool(channel.owed(1))
        channel.failures, channel.due_ms = 0, now_ms + USER_DB_BATCH_MS if more else None
        self._save()
