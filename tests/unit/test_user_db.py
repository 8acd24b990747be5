"""The per-user database in R2: fresh databases, migrations, concurrent writers, corrupt blobs."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from storage import schema, user_db
from tests.fakes.r2 import R2Bucket


@pytest.fixture
def bucket():
    return R2Bucket()


def job(job_id: str, status: str = "complete", **extra) -> dict:
    return {"job_id": job_id, "type": "overlay", "status": status, "progress": 100 if status == "complete" else 10,
            "project_id": 3, "input_key": "working_videos/in.mp4", "output_key": f"final_videos/overlay_{job_id}.mp4",
            "created_at": "2026-11-22T10:00:00.000Z", "updated_at": "2026-11-22T10:05:00.000Z",
            "completed_at": "2026-11-22T10:05:00.000Z" if status == "complete" else None, **extra}


async def rows(bucket, user, sql):
    async def query(db):
        return await (await db.execute(sql)).fetchall()

    return await user_db.read(bucket, user, query)


async def test_new_user_gets_a_fresh_current_database(bucket):
    assert await user_db.list_final_videos(bucket, "newbie") == []
    assert await bucket.head("newbie/database.sqlite") is None  # a read never writes
    await user_db.record_jobs(bucket, "newbie", [job("j1", "processing")])
    blob = await bucket.get("newbie/database.sqlite")
    conn = sqlite3.connect(":memory:")
    conn.deserialize((await blob.arrayBuffer()).to_bytes())
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.CURRENT_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"games", "raw_clips", "projects", "working_clips", "highlight_regions", "final_videos",
            "export_jobs"} <= tables


async def test_completed_job_adds_one_final_video(bucket):
    await user_db.record_jobs(bucket, "u", [job("j1", "processing")])
    await user_db.record_jobs(bucket, "u", [job("j1", "complete")])
    await user_db.record_jobs(bucket, "u", [job("j1", "complete")])  # retried: still one row
    videos = await user_db.list_final_videos(bucket, "u")
    assert len(videos) == 1 and videos[0]["video_path"] == "final_videos/overlay_j1.mp4"
    assert videos[0]["export_job_id"] == "j1" and videos[0]["source_type"] == "overlay"


async def test_a_batch_is_one_write_and_keeps_the_rules_per_job(bucket):
    await user_db.record_jobs(bucket, "u", [job("done", "error", error="boom")])
    writes, put = [], bucket.put

    async def counted_put(key, *args, **kwargs):
        writes.append(key)
        return await put(key, *args, **kwargs)

    bucket.put = counted_put
    await user_db.record_jobs(bucket, "u", [job("a", "pending"), job("b", "complete"), job("done", "processing")])
    assert writes == ["u/database.sqlite"]  # the batch was one write
    found = await rows(bucket, "u", "SELECT id, status FROM export_jobs ORDER BY id")
    assert found == [{"id": "a", "status": "pending"}, {"id": "b", "status": "complete"},
                     {"id": "done", "status": "error"}]
    assert [v["export_job_id"] for v in await user_db.list_final_videos(bucket, "u")] == ["b"]


async def test_terminal_rows_never_move_back(bucket):
    await user_db.record_jobs(bucket, "u", [job("j1", "error", error="boom")])
    await user_db.record_jobs(bucket, "u", [job("j1", "processing")])
    assert (await rows(bucket, "u", "SELECT status, error FROM export_jobs"))[0] == {"status": "error", "error": "boom"}


async def test_a_retried_job_moves_on_from_its_terminal_row_and_its_output_is_listed(bucket):
    await user_db.record_jobs(bucket, "u", [job("j1", "error", error="boom")])
    later = {"updated_at": "2026-11-22T10:09:00.000Z", "completed_at": "2026-11-22T10:09:00.000Z"}
    await user_db.record_jobs(bucket, "u", [job("j1", "queued", **later)])  # the retry's new attempt
    await user_db.record_jobs(bucket, "u", [job("j1", "complete", error=None, **later)])
    assert (await rows(bucket, "u", "SELECT status, error FROM export_jobs"))[0] == {"status": "complete", "error": None}
    assert [v["export_job_id"] for v in await user_db.list_final_videos(bucket, "u")] == ["j1"]


async def test_unchanged_database_is_not_written(bucket):
    await user_db.record_jobs(bucket, "u", [job("j1", "complete")])
    before = await bucket.head("u/database.sqlite")
    await user_db.record_jobs(bucket, "u", [job("j1", "complete")])
    after = await bucket.head("u/database.sqlite")
    assert before.etag == after.etag and before.uploaded == after.uploaded


async def test_thirty_concurrent_writers_lose_nothing(bucket):
    await asyncio.gather(*(user_db.record_jobs(bucket, "busy", [job(f"job{i:02d}")]) for i in range(30)))
    assert (await rows(bucket, "busy", "SELECT count(*) AS n FROM export_jobs"))[0]["n"] == 30
    assert len(await user_db.list_final_videos(bucket, "busy", limit=100)) == 30


async def test_new_users_first_writes_race_safely(bucket):
    # Both see "no database yet": create-if-absent lets exactly one create it, the other retries.
    await asyncio.gather(user_db.record_jobs(bucket, "fresh", [job("a")]),
                         user_db.record_jobs(bucket, "fresh", [job("b")]))
    assert len(await user_db.list_final_videos(bucket, "fresh")) == 2


async def test_corrupt_blob_is_reported_and_never_overwritten(bucket):
    garbage = b"this is not sqlite" * 100
    await bucket.put("u/database.sqlite", garbage)
    with pytest.raises(user_db.CorruptUserDatabase):
        await user_db.record_jobs(bucket, "u", [job("j1")])
    with pytest.raises(user_db.CorruptUserDatabase):
        await user_db.list_final_videos(bucket, "u")
    stored = await bucket.get("u/database.sqlite")
    assert (await stored.arrayBuffer()).to_bytes() == garbage


async def test_old_schema_blob_is_migrated_in_place(bucket):
    conn = sqlite3.connect(":memory:")
    for statement in schema.V1:  # the seed schema, as the seed wrote it (user_version 0)
        conn.execute(statement)
    conn.execute("INSERT INTO games (name) VALUES ('cup final')")
    conn.execute("INSERT INTO final_videos (name, video_path, source_type) VALUES ('old', 'final_videos/old.mp4', 'framing')")
    conn.commit()
    await bucket.put("u/database.sqlite", conn.serialize())
    await user_db.record_jobs(bucket, "u", [job("j1")])
    assert (await rows(bucket, "u", "SELECT name FROM games")) == [{"name": "cup final"}]
    paths = {v["video_path"] for v in await user_db.list_final_videos(bucket, "u")}
    assert paths == {"final_videos/old.mp4", "final_videos/overlay_j1.mp4"}
    assert (await rows(bucket, "u", "PRAGMA user_version"))[0]["user_version"] == schema.CURRENT_VERSION


async def test_newer_schema_is_refused(bucket):
    conn = sqlite3.connect(":memory:")
    conn.execute(f"PRAGMA user_version = {schema.CURRENT_VERSION + 1}")
    conn.execute("CREATE TABLE future (x)")
    await bucket.put("u/database.sqlite", conn.serialize())
    with pytest.raises(ValueError):
        await user_db.record_jobs(bucket, "u", [job("j1")])


async def test_works_without_serialize_support(bucket, monkeypatch):
    # Some SQLite builds lack sqlite3_(de)serialize: the temp-file path gives the same result.
    await user_db.record_jobs(bucket, "u", [job("j1")])
    monkeypatch.setattr(user_db, "HAS_SERIALIZE", False)
    await user_db.record_jobs(bucket, "u", [job("j2")])
    assert {v["export_job_id"] for v in await user_db.list_final_videos(bucket, "u")} == {"j1", "j2"}
