"""The encode queue's SQL, over a Durable Object's `ctx.storage.sql` (synchronous).

Every method is a few statements with no `await` between them, and a Durable Object runs one event
at a time, so each is atomic: a claim is one `UPDATE ... RETURNING` that moves up to `max` available
pending rows, lowest rank first (rank = created − priority × STEP, schema.py), to `in_progress`, each
with its own lease id, and no two claims can ever return the same row.

Times are stored in milliseconds (see rows.py for the API's seconds). Expired leases are swept
before every read or change, so a lease is over at its expiry whether or not the alarm ran yet.
"""

from __future__ import annotations

import json
from typing import Any

from bindings.do_sql import one_or_none, rows
from encode_queue import policy, schema
from encode_queue.rows import STATUSES, api_row

# Ends the lease of a job whose time ran out, or that failed: one more attempt, then pending (after
# `available_ms`) or dead. SQLite evaluates every right-hand side on the old row.
_END_LEASE = """status = CASE WHEN attempts + 1 >= max_attempts THEN 'dead' ELSE 'pending' END,
    attempts = attempts + 1, started_ms = NULL, lease_id = NULL, lease_s = NULL, lease_expires_ms = NULL"""

# Bindings: now, how many, now, the lease ids as a JSON array, lease_s, the lease's end. Moves up to
# `how many` available pending rows, lowest rank first, to `in_progress`; the n-th picked gets the n-th
# lease id. The inner SELECT is a covering scan of `jobs_claim` in order that stops after `how many`
# rows (tests/unit/test_encode_queue_store.py checks the plan).
CLAIM = """WITH picked AS (
        SELECT id, row_number() OVER () - 1 AS n FROM (
            SELECT id FROM jobs INDEXED BY jobs_claim
            WHERE status = 'pending' AND available_ms <= ? ORDER BY rank_ms, id LIMIT ?))
    UPDATE jobs SET status = 'in_progress', started_ms = ?,
        lease_id = json_extract(?, '$[' || picked.n || ']'), lease_s = ?, lease_expires_ms = ?
    FROM picked WHERE jobs.id = picked.id
    RETURNING *"""


class Refused(Exception):  # noqa: N818 - reads as what happened
    """The queue cannot do what was asked; `code` is a key of `refusals.HTTP` (the object answers it
    as `refusals.refusal(code)`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class QueueStore:
    def __init__(self, sql: Any, priority_step_s: float = policy.DEFAULT_PRIORITY_STEP_S) -> None:
        self._sql = sql
        self._step_ms = round(priority_step_s * 1000)
        schema.ensure(sql, self._step_ms)

    # -- producers --------------------------------------------------------------------------
    def enqueue(self, items: list[dict], now_ms: int) -> list[dict]:
        """Insert the rows in one statement (all or nothing) from one bound JSON array: one crossing
        into SQLite whatever the batch size, and no limit on bound parameters to work around."""
        inserted = rows(self._sql, """INSERT INTO jobs (file_name, crf, preset, max_attempts, priority, rank_ms,
                created_ms, available_ms)
            SELECT json_extract(value, '$.file_name'), json_extract(value, '$.crf'),
                   json_extract(value, '$.preset'), json_extract(value, '$.max_attempts'),
                   coalesce(json_extract(value, '$.priority'), 0),
                   ? - coalesce(json_extract(value, '$.priority'), 0) * ?, ?, ?
            FROM json_each(?) ORDER BY CAST(key AS INTEGER)
            RETURNING *""", now_ms, self._step_ms, now_ms, now_ms, json.dumps(items))
        return [api_row(r) for r in sorted(inserted, key=lambda r: r["id"])]

    # -- consumers --------------------------------------------------------------------------
    def claim(self, lease_id: str, lease_s: int, now_ms: int) -> dict | None:
        jobs = self.claim_batch([lease_id], lease_s, now_ms)
        return jobs[0] if jobs else None

    def claim_batch(self, lease_ids: list[str], lease_s: int, now_ms: int) -> list[dict]:
        """Up to `len(lease_ids)` available jobs, lowest rank first, the n-th picked getting the n-th
        lease id: one statement, so all or none are taken and none can be taken twice."""
        self.sweep(now_ms)
        taken = rows(self._sql, CLAIM, now_ms, len(lease_ids), now_ms, json.dumps(lease_ids), lease_s,
                     now_ms + lease_s * 1000)
        return [api_row(r) for r in sorted(taken, key=lambda r: (r["rank_ms"], r["id"]))]

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

    def next_available_ms(self, now_ms: int) -> int | None:
        """When the next pending job still backing off becomes available (for claimers that wait)."""
        found = one_or_none(self._sql, """SELECT MIN(available_ms) AS due FROM jobs INDEXED BY jobs_claim
            WHERE status = 'pending' AND available_ms > ?""", now_ms)
        return None if found is None or found["due"] is None else int(found["due"])

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
