"""UserJobs: one Durable Object per user, holding the index behind `GET /api/export/jobs` and
keeping the user's database in R2 in step with it.

Why a Durable Object and not the user's database in R2: every start and every status change
writes the index, and 50 concurrent starts for one user would be 50 compare-and-swap writers on
one R2 blob, each retry re-downloading it. One object per user serializes those writes for free,
its primary key makes a duplicate impossible, and listing is one indexed SQL query.

The user's database still records every job (its creation and its terminal state, docs/api.md), and
this object is where those records meet: an upsert that owes the database a record marks the row
and sets the alarm, and the alarm (user_db_sync.py) writes every marked row in one
compare-and-swap of the blob. A burst of starts is one database write instead of one per start,
and writers of one user's blob no longer race each other. Crash safety as for the job objects: the
handlers do no outbound I/O; what is owed is stored, with the alarm, before they return.
"""

from __future__ import annotations

import json

from workers import DurableObject

from bindings.do_sql import execute, one_or_none, rows
from clock import now_ms
from durable_objects.user_db_sync import USER_DB_BATCH_MS, UserDbSync
from jobs.cursor import InvalidCursor, decode_cursor, encode_cursor
from jobs.model import TERMINAL

IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
_TERMINAL_SQL = "(" + ", ".join(f"'{s}'" for s in sorted(TERMINAL)) + ")"


def _ensure_schema(sql) -> None:
    execute(sql, """CREATE TABLE IF NOT EXISTS jobs (
        job_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, status TEXT NOT NULL, type TEXT NOT NULL,
        version INTEGER NOT NULL, body TEXT NOT NULL)""")
    columns = {r["name"] for r in rows(sql, "SELECT name FROM pragma_table_info('jobs')")}
    # Added with the database sync: what the user's database records beyond the body, and whether
    # the database is owed the row.
    for name, kind in (("runpod_id", "TEXT"), ("output_key", "TEXT"), ("db_pending", "INTEGER NOT NULL DEFAULT 0")):
        if name not in columns:
            execute(sql, f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
    execute(sql, "CREATE INDEX IF NOT EXISTS jobs_newest ON jobs (created_ms DESC, job_id DESC)")
    execute(sql, "CREATE INDEX IF NOT EXISTS jobs_db_owed ON jobs (job_id) WHERE db_pending = 1")
    execute(sql, """CREATE TABLE IF NOT EXISTS idempotency (
        key TEXT PRIMARY KEY, job_id TEXT NOT NULL, fingerprint TEXT NOT NULL, created_ms INTEGER NOT NULL)""")


class UserJobs(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.sql = ctx.storage.sql
        _ensure_schema(self.sql)
        self.db_sync = UserDbSync(ctx, env)

    # Plain methods where nothing is awaited: a coroutine would cost an event-loop round trip per call.
    def claim_idempotency_key(self, key: str, job_id: str, fingerprint: str, now_ms: int) -> dict:
        """The job a key already names (within 24 h), or record that it now names `job_id`."""
        execute(self.sql, "DELETE FROM idempotency WHERE created_ms < ?", now_ms - IDEMPOTENCY_TTL_MS)
        found = one_or_none(self.sql, "SELECT job_id, fingerprint FROM idempotency WHERE key = ?", key)
        if found is not None:
            return {"job_id": found["job_id"], "replayed": True, "same_request": found["fingerprint"] == fingerprint}
        execute(self.sql, "INSERT INTO idempotency (key, job_id, fingerprint, created_ms) VALUES (?, ?, ?, ?)",
                key, job_id, fingerprint, now_ms)
        return {"job_id": job_id, "replayed": False, "same_request": True}

    def release_idempotency_key(self, key: str, job_id: str) -> None:
        """Forget a key whose job could not be created, so a retry with it can succeed."""
        execute(self.sql, "DELETE FROM idempotency WHERE key = ? AND job_id = ?", key, job_id)

    async def upsert(self, entry: dict) -> None:
        """Record a job's latest snapshot; an older snapshot arriving late never replaces a newer one.

        The user's database is owed the job when the index first sees it and when it first sees it
        terminal; until the alarm wrote it, the row stays owed and its newest snapshot is what is written."""
        owed = rows(self.sql, f"""INSERT INTO jobs (job_id, created_ms, status, type, version, body, runpod_id,
                output_key, db_pending)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
            ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, version = excluded.version,
                body = excluded.body, runpod_id = excluded.runpod_id, output_key = excluded.output_key,
                db_pending = CASE WHEN jobs.db_pending = 1 OR (excluded.status IN {_TERMINAL_SQL}
                                  AND jobs.status NOT IN {_TERMINAL_SQL}) THEN 1 ELSE 0 END
            WHERE excluded.version > jobs.version
            RETURNING db_pending""",  # noqa: S608 - the statuses are the model's constants
                    entry["job_id"], entry["created_ms"], entry["status"], entry["type"], entry["version"],
                    json.dumps(entry["body"]), entry["runpod_id"], entry["output_key"])
        # An entry the index already has (a retried push) changes nothing and returns no row; the row
        # may still be owed with no alarm if an earlier call died between its write and the alarm, so
        # that is checked too: the job's object retries its push until one of them gets through.
        pending = (owed[0] if owed else one_or_none(self.sql, "SELECT db_pending FROM jobs WHERE job_id = ?",
                                                     entry["job_id"]))["db_pending"]
        if pending:
            await self.db_sync.owed(entry["user_id"], now_ms() + USER_DB_BATCH_MS)

    async def alarm(self, alarm_info=None):
        await self.db_sync.run()

    def list_jobs(self, status: str | None, job_type: str | None, limit: int, cursor: str | None) -> dict:
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if job_type:
            where.append("type = ?")
            params.append(job_type)
        if cursor:
            try:
                created_ms, job_id = decode_cursor(cursor)
            except InvalidCursor as exc:
                return {"error": str(exc)}
            where.append("(created_ms < ? OR (created_ms = ? AND job_id < ?))")
            params += [created_ms, created_ms, job_id]
        query = "SELECT job_id, created_ms, body FROM jobs"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY created_ms DESC, job_id DESC LIMIT ?"
        found = rows(self.sql, query, *params, limit + 1)
        page = found[:limit]
        next_cursor = encode_cursor(page[-1]["created_ms"], page[-1]["job_id"]) if len(found) > limit else None
        return {"jobs": [json.loads(r["body"]) for r in page], "next_cursor": next_cursor}
