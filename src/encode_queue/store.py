"""The encode queue's SQL, over a Durable Object's `ctx.storage.sql` (synchronous).

Every method is a few statements with no `await` between them, and a Durable Object runs one event
at a time, so each is atomic: a claim is one `UPDATE ... RETURNING` that moves the oldest available
pending row to `in_progress`, and no two claims can ever return the same row.

Times are stored in milliseconds (see rows.py for the API's seconds). Expired leases are swept
before every read or change, so a lease is over at its expiry whether or not the alarm ran yet.
"""

from __future__ import annotations

import json
from typing import Any

from bindings.do_sql import execute, one_or_none, rows
from encode_queue import policy
from encode_queue.rows import STATUSES, api_row

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        file_name TEXT NOT NULL, crf TEXT, preset TEXT,
        status TEXT NOT NULL DEFAULT 'pending',
        created_ms INTEGER NOT NULL, started_ms INTEGER, finished_ms INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
        lease_id TEXT, lease_s INTEGER, lease_expires_ms INTEGER,
        available_ms INTEGER NOT NULL, error TEXT)""",
    # Claims and status filters walk one status in id order.
    "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, id)",
    # The sweep before every call, and the alarm's next expiry, look only at live leases: without
    # this they would scan every in-progress row on every call. Named with INDEXED BY where used,
    # since the planner, without statistics, prefers jobs_by_status.
    "CREATE INDEX IF NOT EXISTS jobs_leases ON jobs (lease_expires_ms) WHERE status = 'in_progress'",
)
# AUTOINCREMENT: an id is never reused after a delete, so a late worker call on a deleted job gets
# 404 instead of acting on a newer job that happens to have the same id.

# Ends the lease of a job whose time ran out, or that failed: one more attempt, then pending (after
# `available_ms`) or dead. SQLite evaluates every right-hand side on the old row.
_END_LEASE = """status = CASE WHEN attempts + 1 >= max_attempts THEN 'dead' ELSE 'pending' END,
    attempts = attempts + 1, started_ms = NULL, lease_id = NULL, lease_s = NULL, lease_expires_ms = NULL"""


class Refused(Exception):  # noqa: N818 - reads as what happened
    """The queue cannot do what was asked; `code` is a key of `refusals.HTTP` (the object answers it
    as `refusals.refusal(code)`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class QueueStore:
    def __init__(self, sql: Any) -> None:
        self._sql = sql
        for statement in _SCHEMA:
            execute(sql, statement)

    # -- producers --------------------------------------------------------------------------
    def enqueue(self, items: list[dict], now_ms: int) -> list[dict]:
        """Insert the rows in one statement (all or nothing) from one bound JSON array: one crossing
        into SQLite whatever the batch size, and no limit on bound parameters to work around."""
        inserted = rows(self._sql, """INSERT INTO jobs (file_name, crf, preset, max_attempts, created_ms, available_ms)
            SELECT json_extract(value, '$.file_name'), json_extract(value, '$.crf'),
                   json_extract(value, '$.preset'), json_extract(value, '$.max_attempts'), ?, ?
            FROM json_each(?) ORDER BY CAST(key AS INTEGER)
            RETURNING *""", now_ms, now_ms, json.dumps(items))
        return [api_row(r) for r in sorted(inserted, key=lambda r: r["id"])]

    # -- consumers --------------------------------------------------------------------------
    def claim(self, lease_id: str, lease_s: int, now_ms: int) -> dict | None:
        self.sweep(now_ms)
        row = one_or_none(self._sql, """UPDATE jobs SET status = 'in_progress', started_ms = ?, lease_id = ?,
                lease_s = ?, lease_expires_ms = ?
            WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND available_ms <= ? ORDER BY id LIMIT 1)
            RETURNING *""", now_ms, lease_id, lease_s, now_ms + lease_s * 1000, now_ms)
        return None if row is None else api_row(row)

    def heartbeat(self, job_id: int, lease_id: str | None, lease_s: int | None, now_ms: int) -> dict:
        row = self._held(job_id, lease_id, now_ms, finished_ok=False)
        seconds = lease_s or int(row["lease_s"])
        return self._update(job_id, "lease_s = ?, lease_expires_ms = ?", seconds, now_ms + seconds * 1000)

    def finish(self, job_id: int, lease_id: str | None, now_ms: int) -> dict:
        row = self._held(job_id, lease_id, now_ms, finished_ok=True)
        if row["status"] == "finished":
            return api_row(row)  # a worker retrying its finish gets the same answer
        return self._update(job_id, "status = 'finished', finished_ms = ?, lease_expires_ms = NULL, error = NULL",
                            now_ms)

    def fail(self, job_id: int, lease_id: str | None, error: str, retry_in_s: int | None, now_ms: int) -> dict:
        row = self._held(job_id, lease_id, now_ms, finished_ok=False)
        wait_s = retry_in_s if retry_in_s is not None else policy.backoff_s(int(row["attempts"]) + 1)
        return self._update(job_id, f"{_END_LEASE}, error = ?, available_ms = ?", error, now_ms + wait_s * 1000)

    def sweep(self, now_ms: int) -> int:
        """Put back every job whose lease ran out; how many."""
        # RETURNING counts rows; the cursor's rowsWritten would count index entries too.
        returned = rows(self._sql, f"""UPDATE jobs INDEXED BY jobs_leases SET {_END_LEASE}, error = ?, available_ms = ?
            WHERE status = 'in_progress' AND lease_expires_ms <= ? RETURNING id""",  # noqa: S608 - constant SQL
                        policy.LEASE_EXPIRED, now_ms, now_ms)
        return len(returned)

    def next_expiry_ms(self) -> int | None:
        found = one_or_none(self._sql, "SELECT MIN(lease_expires_ms) AS due FROM jobs INDEXED BY jobs_leases WHERE status = 'in_progress'")
        return None if found is None or found["due"] is None else int(found["due"])

    # -- operators ----------------------------------------------------------------------------
    def requeue(self, job_id: int, now_ms: int) -> dict:
        row = self._row(job_id)
        if row["status"] != "dead":
            raise Refused("not_dead")
        return self._update(job_id, "status = 'pending', attempts = 0, available_ms = ?", now_ms)

    def get(self, job_id: int, now_ms: int) -> dict:
        self.sweep(now_ms)
        return api_row(self._row(job_id))

    def delete(self, job_id: int) -> None:
        if not rows(self._sql, "DELETE FROM jobs WHERE id = ? RETURNING id", job_id):
            raise Refused("not_found")

    def page(self, status: str, limit: int, offset: int, now_ms: int) -> tuple[list[dict], int]:
        """A page of rows by id, and how many rows match the filter (`status` "all" for every row)."""
        self.sweep(now_ms)
        where, params = ("", []) if status == "all" else ("WHERE status = ?", [status])
        found = rows(self._sql, f"SELECT * FROM jobs {where} ORDER BY id LIMIT ? OFFSET ?",  # noqa: S608
                     *params, limit, offset)
        total = rows(self._sql, f"SELECT COUNT(*) AS n FROM jobs {where}", *params)[0]["n"]  # noqa: S608
        return [api_row(r) for r in found], int(total)

    def stats(self, now_ms: int) -> dict:
        self.sweep(now_ms)
        counts = dict.fromkeys(STATUSES, 0)
        for r in rows(self._sql, "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status"):
            counts[r["status"]] = int(r["n"])
        return {**counts, "total": sum(counts.values())}

    # -- helpers ------------------------------------------------------------------------------
    def _row(self, job_id: int) -> dict:
        row = one_or_none(self._sql, "SELECT * FROM jobs WHERE id = ?", job_id)
        if row is None:
            raise Refused("not_found")
        return row

    def _held(self, job_id: int, lease_id: str | None, now_ms: int, finished_ok: bool) -> dict:
        """The row a worker acts on through its claim, or why it may not."""
        self.sweep(now_ms)
        row = self._row(job_id)
        if lease_id is not None and row["lease_id"] != lease_id:
            raise Refused("lease_lost")
        if row["status"] == "pending":
            raise Refused("not_started")
        if row["status"] == "in_progress" or (finished_ok and row["status"] == "finished"):
            return row
        raise Refused("not_in_progress")

    def _update(self, job_id: int, assignments: str, *params: Any) -> dict:
        row = one_or_none(self._sql, f"UPDATE jobs SET {assignments} WHERE id = ? RETURNING *",  # noqa: S608
                          *params, job_id)
        return api_row(row)
