"""UserJobs: one Durable Object per user, holding the index behind `GET /api/export/jobs`.

Why a Durable Object and not the user's database in R2: every start and every status change
writes the index, and 50 concurrent starts for one user would be 50 compare-and-swap writers on
one R2 blob, each retry re-downloading it. One object per user serializes those writes for free,
its primary key makes a duplicate impossible, and listing is one indexed SQL query. The user's
database in R2 still records every job (at creation and terminal transitions), for the app.

Crash safety is trivial here: no method does outbound I/O; each is one synchronous SQL change.
"""

from __future__ import annotations

import json

from workers import DurableObject

from bindings.do_sql import execute, one_or_none, rows
from jobs.cursor import InvalidCursor, decode_cursor, encode_cursor

IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000


class UserJobs(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.sql = ctx.storage.sql
        execute(self.sql, """CREATE TABLE IF NOT EXISTS jobs (
            job_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, status TEXT NOT NULL, type TEXT NOT NULL,
            version INTEGER NOT NULL, body TEXT NOT NULL)""")
        execute(self.sql, "CREATE INDEX IF NOT EXISTS jobs_newest ON jobs (created_ms DESC, job_id DESC)")
        execute(self.sql, """CREATE TABLE IF NOT EXISTS idempotency (
            key TEXT PRIMARY KEY, job_id TEXT NOT NULL, fingerprint TEXT NOT NULL, created_ms INTEGER NOT NULL)""")

    async def claim_idempotency_key(self, key: str, job_id: str, fingerprint: str, now_ms: int) -> dict:
        """The job a key already names (within 24 h), or record that it now names `job_id`."""
        execute(self.sql, "DELETE FROM idempotency WHERE created_ms < ?", now_ms - IDEMPOTENCY_TTL_MS)
        found = one_or_none(self.sql, "SELECT job_id, fingerprint FROM idempotency WHERE key = ?", key)
        if found is not None:
            return {"job_id": found["job_id"], "replayed": True, "same_request": found["fingerprint"] == fingerprint}
        execute(self.sql, "INSERT INTO idempotency (key, job_id, fingerprint, created_ms) VALUES (?, ?, ?, ?)",
                key, job_id, fingerprint, now_ms)
        return {"job_id": job_id, "replayed": False, "same_request": True}

    async def release_idempotency_key(self, key: str, job_id: str) -> None:
        """Forget a key whose job could not be created, so a retry with it can succeed."""
        execute(self.sql, "DELETE FROM idempotency WHERE key = ? AND job_id = ?", key, job_id)

    async def upsert(self, entry: dict) -> None:
        """Record a job's latest snapshot; an older snapshot arriving late never replaces a newer one."""
        execute(self.sql, """INSERT INTO jobs (job_id, created_ms, status, type, version, body)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, version = excluded.version,
                body = excluded.body
            WHERE excluded.version > jobs.version""",
                entry["job_id"], entry["created_ms"], entry["status"], entry["type"], entry["version"],
                json.dumps(entry["body"]))

    async def list_jobs(self, status: str | None, job_type: str | None, limit: int, cursor: str | None) -> dict:
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

    async def count(self) -> int:
        return int(rows(self.sql, "SELECT COUNT(*) AS n FROM jobs")[0]["n"])
