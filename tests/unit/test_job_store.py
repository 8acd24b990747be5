"""A user's job table (jobs.store) over the fake DO SQL: the rows are the truth, memory a copy of them."""

from __future__ import annotations

from jobs.followups import FollowUp
from jobs.model import JobRecord
from jobs.store import TABLE, JobTable, ensure_schema
from tests.fakes.do_sql import SqlStorage


def record(job_id: str = "j1", **extra) -> JobRecord:
    return JobRecord(job_id=job_id, user_id="u", type="overlay", project_id=1, input_key="in.mp4",
                     output_key=f"final_videos/overlay_{job_id}.mp4", params_json="{}", base_url="http://w", **extra)


def table(sql: SqlStorage, due=lambda job: None, owed=None) -> JobTable:
    ensure_schema(sql, {r["name"] for r in sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'")})
    return JobTable(sql, due, owed)


def test_a_new_table_has_no_record_and_saves_one_a_new_object_reads_back():
    sql = SqlStorage()
    jobs = table(sql)
    assert jobs.load("j1") is None
    jobs.save(record(progress=5))
    again = table(sql).load("j1")  # the object evicted and rebuilt: storage, not memory
    assert again is not None and again.progress == 5 and again.version == 1


def test_load_returns_copies_so_an_unsaved_change_is_no_change():
    jobs = table(SqlStorage())
    jobs.save(record())
    job = jobs.load("j1")
    job.progress, job.status = 80, "complete"
    assert jobs.load("j1").progress == 0 and jobs.load("j1").status == "pending"


def test_save_writes_through_and_later_loads_see_it():
    sql = SqlStorage()
    jobs = table(sql)
    jobs.save(record())
    job = jobs.load("j1")
    job.progress = 40
    jobs.save(job)
    job.progress = 99  # changed after the save: neither memory nor storage has it
    assert jobs.load("j1").progress == 40 and jobs.load("j1").version == 2
    assert table(sql).load("j1").progress == 40


def test_the_due_rule_is_stored_with_each_record_and_the_earliest_is_found():
    sql = SqlStorage()
    jobs = table(sql, due=lambda job: None if job.status == "complete" else job.next_submit_ms)
    assert jobs.earliest_due() is None
    jobs.save(record("a", next_submit_ms=300))
    jobs.save(record("b", next_submit_ms=100))
    jobs.save(record("c", next_submit_ms=50, status="complete"))
    assert jobs.earliest_due() == 100 and jobs.due_ids(200, 10) == ["b"] and jobs.due_ids(300, 1) == ["b"]
    assert jobs.due_ids(400, 10) == ["b", "a"]


def test_pages_are_newest_first_under_conditions():
    jobs = table(SqlStorage())
    for i, status in enumerate(["pending", "complete", "pending"]):
        jobs.save(record(f"j{i}", created_ms=i, status=status))
    assert [j.job_id for j in jobs.page(None, None, None, 10)] == ["j2", "j1", "j0"]
    assert [j.job_id for j in jobs.page("pending", None, None, 1)] == ["j2"]
    assert [j.job_id for j in jobs.page("pending", "overlay", (2, "j2"), 10)] == ["j0"]


def test_records_owing_the_database_are_reported_and_cleared_by_version():
    owed = []
    jobs = table(SqlStorage(), owed=lambda job: owed.append(job.job_id))
    jobs.save(record("a", db_pending=1))
    jobs.save(record("b"))
    assert owed == ["a"] and [j.job_id for j in jobs.db_owed(10)] == ["a"]
    jobs.db_written("a", 0)  # an older version than the stored one: still owed
    assert jobs.db_owed(10)
    jobs.db_written("a", 1)
    assert jobs.db_owed(10) == [] and not jobs.load("a").db_pending


def test_the_memory_copy_is_bounded_and_storage_stays_the_truth():
    sql = SqlStorage()
    jobs = table(sql)
    for i in range(300):
        jobs.save(record(f"j{i}"))
    assert len(jobs._cached) <= 256
    assert all(jobs.load(f"j{i}").job_id == f"j{i}" for i in range(300))


def test_a_table_written_by_an_older_version_gains_the_new_columns():
    sql = SqlStorage()
    sql.exec(f"CREATE TABLE {TABLE} (job_id TEXT PRIMARY KEY, user_id TEXT, type TEXT, project_id INTEGER, "
             "input_key TEXT, output_key TEXT, params_json TEXT, base_url TEXT, status TEXT)")
    sql.exec(f"INSERT INTO {TABLE} (job_id, user_id, type, project_id, input_key, output_key, params_json, base_url, "
             "status) VALUES ('j1', 'u', 'overlay', 1, 'in.mp4', 'o.mp4', '{}', 'http://w', 'processing')")
    jobs = table(sql)
    job = jobs.load("j1")
    assert job.status == "processing" and job.progress == 0 and not job.cancel.pending
    job.cancel = job.cancel.requested()
    jobs.save(job)
    assert table(sql).load("j1").cancel.pending


def test_follow_ups_survive_a_rebuilt_object_and_copies_never_share_them():
    sql = SqlStorage()
    jobs = table(sql)
    job = record()
    job.cancel = job.cancel.requested().failed(5000)
    jobs.save(job)
    again = table(sql).load("j1")
    assert again.cancel == FollowUp(True, 1, 5000 + 1000)
    copy = jobs.load("j1")
    copy.cancel = copy.cancel.failed(9000)  # a change to a loaded copy, not saved
    assert jobs.load("j1").cancel.failures == 1


def test_a_due_time_is_refreshed_under_new_settings_and_deferred_after_a_failure():
    sql = SqlStorage()
    stall = {"ms": 100}
    jobs = table(sql, due=lambda job: job.last_signal_ms + stall["ms"])
    jobs.save(record(last_signal_ms=0))
    assert jobs.earliest_due() == 100
    stall["ms"] = 500  # a deploy raised the stall period: the stored time is recomputed, not looped on
    jobs.refresh_due("j1")
    assert jobs.earliest_due() == 500
    jobs.defer("j1", 900)  # a step that failed: no sooner than the pause
    assert jobs.earliest_due() == 900 and jobs.due_ids(800, 10) == []
    jobs.defer("j1", 700)  # never sooner than it was
    assert jobs.earliest_due() == 900


def test_a_user_db_sync_state_written_before_the_one_alarm_gains_its_due_time():
    from durable_objects.user_db_sync import UserDbSync
    from durable_objects.user_db_sync import ensure_schema as ensure_sync_schema

    sql = SqlStorage()
    sql.exec("CREATE TABLE user_db_sync (id INTEGER PRIMARY KEY CHECK (id = 1), user_id TEXT NOT NULL, "
             "failures INTEGER NOT NULL DEFAULT 0)")
    sql.exec("INSERT INTO user_db_sync (id, user_id, failures) VALUES (1, 'u', 2)")
    ensure_sync_schema(sql, {"user_db_sync"})
    sync = UserDbSync(sql, bucket=None, table=table(sql), ledger=None)
    assert sync.due_ms() == 0  # due at once: whatever was owed is written by the next alarm
