"""Each user's SQLite database, kept in R2 at `{user_id}/database.sqlite`.

A change loads the blob into an in-memory SQLite, applies the change, and writes the result back
only if something changed, as a compare-and-swap on the blob's ETag (create-if-absent for a new
user). When another writer got there first, the change is applied again to the newer blob, so two
concurrent writers never lose each other's rows. Changes must therefore be re-applicable.
A blob that is not a SQLite database is reported and never overwritten.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import backoff
from bindings import r2
from bindings.sql import Connection, connect
from jobs.model import COMPLETE, TERMINAL
from storage import schema

T = TypeVar("T")
MAX_ATTEMPTS = 40
# Python 3.11+ exposes sqlite3_(de)serialize when SQLite was built with it; otherwise use a temp file.
HAS_SERIALIZE = hasattr(sqlite3.Connection, "serialize")


class CorruptUserDatabase(Exception):  # noqa: N818 - reads as what it is
    """The stored blob is not a readable SQLite database; it is left untouched."""


class TooMuchContention(Exception):  # noqa: N818
    """Other writers kept winning; the change was not applied."""


def db_key(user_id: str) -> str:
    return f"{user_id}/database.sqlite"


def _load(conn: sqlite3.Connection, blob: bytes) -> None:
    if HAS_SERIALIZE:
        conn.deserialize(blob)
        return
    # SQLite builds without sqlite3_deserialize: go through a temporary file, copied into memory.
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as tmp:
        tmp.write(blob)
        tmp.flush()
        source = sqlite3.connect(tmp.name)
        try:
            source.backup(conn)
        finally:
            source.close()


def _dump(conn: sqlite3.Connection) -> bytes:
    if HAS_SERIALIZE:
        return conn.serialize()
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as tmp:
        target = sqlite3.connect(tmp.name)
        try:
            conn.backup(target)
        finally:
            target.close()
        with open(tmp.name, "rb") as f:
            return f.read()


def _open(blob: bytes | None, user_id: str) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    if blob is not None:
        try:
            _load(conn, blob)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except (sqlite3.DatabaseError, ValueError) as exc:
            conn.close()
            raise CorruptUserDatabase(f"the database of user {user_id} is unreadable: {exc}") from None
    return conn


async def modify(bucket: Any, user_id: str, change: Callable[[Connection], Awaitable[T]], *,
                 max_attempts: int = MAX_ATTEMPTS) -> T:
    """Apply `change` to the user's database and store it, retrying on a concurrent write."""
    key = db_key(user_id)
    for attempt in range(1, max_attempts + 1):
        stored = await r2.get_bytes(bucket, key)
        conn = _open(stored.body if stored else None, user_id)
        try:
            migrated = schema.migrate(conn)
            before = conn.total_changes
            async with connect(conn) as db:
                result = await change(db)
                await db.commit()
            if conn.total_changes == before and not migrated:
                return result  # nothing changed: no write at all
            data = _dump(conn)
        finally:
            conn.close()
        written = await r2.put_bytes(bucket, key, data, content_type="application/vnd.sqlite3",
                                     if_etag=stored.etag if stored else None, if_absent=stored is None)
        if written is not None:
            return result
        # Someone else wrote first: back off a little (jittered, so writers spread out) and re-apply.
        await asyncio.sleep(random.uniform(0, backoff.backoff_s(0.02, attempt, 0.5)))  # noqa: S311
    raise TooMuchContention(f"gave up writing the database of user {user_id} after {max_attempts} attempts")


async def read(bucket: Any, user_id: str, query: Callable[[Connection], Awaitable[T]]) -> T:
    """Run `query` on the user's database without writing anything back."""
    stored = await r2.get_bytes(bucket, db_key(user_id))
    conn = _open(stored.body if stored else None, user_id)
    try:
        schema.migrate(conn)
        async with connect(conn) as db:
            return await query(db)
    finally:
        conn.close()


async def record_jobs(bucket: Any, user_id: str, jobs: list[dict]) -> None:
    """Upsert export jobs from their records (a status body plus `runpod_job_id` and `output_key`),
    in one write of the database; a completed job also gets its final_videos row.

    Re-applicable and order-safe: a terminal row is never moved back by a late non-terminal record.
    """

    async def change(db: Connection) -> None:
        for job in jobs:
            await _record(db, job)

    await modify(bucket, user_id, change)


async def _record(db: Connection, job: dict) -> None:
    row = await (await db.execute("SELECT status, updated_at FROM export_jobs WHERE id = ?",
                                  (job["job_id"],))).fetchone()
    # A terminal row moves only for a later change: a retry's new attempt (updated after the end), never a
    # late record written before it. Times are ISO 8601 in one format, so they compare as text.
    if row is not None and row["status"] in TERMINAL and (job.get("updated_at") or "") <= (row["updated_at"] or ""):
        return
    values = (job["job_id"], job.get("project_id"), job["type"], job["status"], int(job.get("progress") or 0),
              job.get("input_key"), job.get("output_key"), job.get("runpod_job_id"), job.get("error"),
              job.get("created_at"), job.get("updated_at"), job.get("completed_at"))
    if row is None:
        await db.execute("""INSERT INTO export_jobs (id, project_id, type, status, progress, input_key, output_key,
            runpod_job_id, error, created_at, updated_at, completed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""", values)
    else:
        await db.execute("""UPDATE export_jobs SET project_id=?, type=?, status=?, progress=?, input_key=?,
            output_key=?, runpod_job_id=?, error=?, created_at=?, updated_at=?, completed_at=? WHERE id=?""",
                         values[1:] + (job["job_id"],))
    if job["status"] == COMPLETE:
        await db.execute("""INSERT OR IGNORE INTO final_videos (project_id, name, video_path, source_type,
            created_at, export_job_id) VALUES (?, ?, ?, ?, ?, ?)""",
                         (job.get("project_id"), f"{job['type'].capitalize()} export {job['job_id'][:8]}",
                          job["output_key"], job["type"], job.get("completed_at"), job["job_id"]))


async def list_final_videos(bucket: Any, user_id: str, limit: int = 50, offset: int = 0) -> list[dict]:
    async def query(db: Connection) -> list[dict]:
        cur = await db.execute("""SELECT id, project_id, game_id, name, video_path, thumbnail_path, source_type,
            duration, file_size, created_at, export_job_id FROM final_videos
            ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?""", (limit, offset))
        return await cur.fetchall()

    return await read(bucket, user_id, query)
