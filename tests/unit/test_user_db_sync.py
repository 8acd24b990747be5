"""The job records' two channels (durable_objects/user_db_sync.py): the user's database in R2 and the
usage ledger, each with its own marks, failures and backoff, over the fake DO SQL and the fake R2."""

from __future__ import annotations

from durable_objects.user_db_sync import USER_DB_BATCH_MS, UserDbSync
from durable_objects.user_db_sync import ensure_schema as ensure_sync_schema
from jobs.model import JobRecord
from jobs.store import JobTable
from jobs.store import ensure_schema as ensure_job_schema
from storage import user_db
from tests.fakes.do_sql import SqlStorage
from tests.fakes.r2 import R2Bucket

T0 = 1_800_000_000_000


class Ledger:
    """The UsageLedger object's `record`, down while `down`."""

    def __init__(self) -> None:
        self.down, self.entries, self.calls = False, {}, 0

    async def __call__(self, entries: list[dict]) -> None:
        self.calls += 1
        if self.down:
            raise RuntimeError("Error: UsageLedger unavailable")
        self.entries.update({e["job_id"]: e for e in entries})


class World:
    def __init__(self) -> None:
        self.sql, self.bucket, self.ledger, self.now = SqlStorage(), R2Bucket(), Ledger(), T0
        ensure_job_schema(self.sql, set())
        ensure_sync_schema(self.sql, set())
        self.table = JobTable(self.sql, lambda job: None,
                              owed=lambda job: self.sync.owe(job.user_id, self.now + USER_DB_BATCH_MS))
        self.sync = UserDbSync(self.sql, self.bucket, self.table, self.ledger)
        self.db_writes = 0
        put = self.bucket.put

        async def counted_put(key, *args, **kwargs):
            self.db_writes += 1
            return await put(key, *args, **kwargs)

        self.bucket.put = counted_put

    def create(self, job_id: str) -> None:
        job = JobRecord(job_id=job_id, user_id="u", type="overlay", project_id=1, input_key="in.mp4",
                        output_key=f"final_videos/overlay_{job_id}.mp4", params_json="{}", base_url="http://w",
                        created_ms=self.now, updated_ms=self.now)
        job.owe_records()
        self.table.save(job)

    async def alarm_at(self, t: int) -> None:
        self.now = t
        await self.sync.run(t)

    async def in_db(self) -> set[str]:
        async def ids(db):
            return {r["id"] for r in await (await db.execute("SELECT id FROM export_jobs")).fetchall()}

        return await user_db.read(self.bucket, "u", ids)


async def test_a_ledger_that_is_down_never_holds_up_the_users_database():
    w = World()
    w.ledger.down = True
    w.create("a")
    assert w.sync.due_ms() == T0 + 1000
    await w.alarm_at(T0 + 1000)
    assert await w.in_db() == {"a"} and w.db_writes == 1  # the database has it: its mark is cleared
    assert not w.table.load("a").db_pending and w.table.load("a").ledger_pending
    await w.alarm_at(T0 + 2000)  # the ledger's own retries: 1 s, 2 s, 4 s ...
    assert w.sync.due_ms() == T0 + 4000 and w.db_writes == 1  # the database is not written again
    w.now = T0 + 2500
    w.create("b")  # a job ended meanwhile: the database's write is due in its batch window, not at the ledger's retry
    assert w.sync.due_ms() == T0 + 3500
    await w.alarm_at(T0 + 3500)
    assert await w.in_db() == {"a", "b"} and w.db_writes == 2 and w.ledger.calls == 2
    w.ledger.down = False
    await w.alarm_at(T0 + 4000)
    assert set(w.ledger.entries) == {"a", "b"} and w.sync.due_ms() is None
    assert w.table.ledger_owed(10) == [] and w.table.db_owed(10) == [] and w.db_writes == 2


async def test_an_r2_outage_never_holds_up_the_ledger():
    w = World()

    async def r2_down(*args, **kwargs):
        raise RuntimeError("R2 unavailable")

    w.bucket.put = r2_down
    w.create("a")
    await w.alarm_at(T0 + 1000)
    assert set(w.ledger.entries) == {"a"} and w.table.db_owed(10)[0].job_id == "a"
    assert w.sync.due_ms() == T0 + 2000  # the database's retry, alone


def test_state_written_when_one_batch_went_to_both_owes_the_ledger_what_it_owed_the_database():
    sql = SqlStorage()
    sql.exec("CREATE TABLE user_db_sync (id INTEGER PRIMARY KEY CHECK (id = 1), user_id TEXT NOT NULL, "
             "failures INTEGER NOT NULL DEFAULT 0, due_ms INTEGER)")
    sql.exec("INSERT INTO user_db_sync (id, user_id, failures, due_ms) VALUES (1, 'u', 3, 5000)")
    sql.exec("CREATE TABLE export_jobs (job_id TEXT PRIMARY KEY, user_id TEXT, db_pending INTEGER)")
    sql.exec("INSERT INTO export_jobs (job_id, user_id, db_pending) VALUES ('a', 'u', 1), ('b', 'u', 0)")
    ensure_sync_schema(sql, {"user_db_sync"})
    ensure_job_schema(sql, {"export_jobs"})
    sync = UserDbSync(sql, None, JobTable(sql, lambda job: None), ledger=None)
    assert [c.due_ms for c in sync.channels] == [5000, 5000] and sync.channels[1].failures == 0
    assert [r["job_id"] for r in sql.exec("SELECT job_id FROM export_jobs WHERE ledger_pending = 1")] == ["a"]
