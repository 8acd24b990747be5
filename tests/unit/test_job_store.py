"""The job record's store (jobs.store) over the fake DO SQL: the row is the truth, memory a copy of it."""

from __future__ import annotations

from jobs.followups import FollowUp
from jobs.model import JobRecord
from jobs.store import JobStore
from tests.fakes.do_sql import SqlStorage


def record(**extra) -> JobRecord:
    return JobRecord(job_id="j1", user_id="u", type="overlay", project_id=1, input_key="in.mp4",
                     output_key="final_videos/overlay_j1.mp4", params_json="{}", base_url="http://w", **extra)


def test_a_new_object_has_no_record_and_saves_one_a_new_object_reads_back():
    sql = SqlStorage()
    store = JobStore(sql)
    assert store.load() is None
    store.save(record(progress=5))
    again = JobStore(sql).load()  # the object evicted and rebuilt: storage, not memory
    assert again is not None and again.progress == 5 and again.version == 1


def test_load_returns_copies_so_an_unsaved_change_is_no_change():
    store = JobStore(SqlStorage())
    store.save(record())
    job = store.load()
    job.progress, job.status = 80, "complete"
    assert store.load().progress == 0 and store.load().status == "pending"


def test_save_writes_through_and_later_loads_see_it():
    sql = SqlStorage()
    store = JobStore(sql)
    store.save(record())
    job = store.load()
    job.progress = 40
    store.save(job)
    job.progress = 99  # changed after the save: neither memory nor storage has it
    assert store.load().progress == 40 and store.load().version == 2
    assert JobStore(sql).load().progress == 40


def test_a_table_written_by_an_older_version_gains_the_new_columns():
    sql = SqlStorage()
    sql.exec("CREATE TABLE job (id INTEGER PRIMARY KEY CHECK (id = 1), job_id TEXT, user_id TEXT, type TEXT, "
             "project_id INTEGER, input_key TEXT, output_key TEXT, params_json TEXT, base_url TEXT, status TEXT)")
    sql.exec("INSERT INTO job (id, job_id, user_id, type, project_id, input_key, output_key, params_json, base_url, "
             "status) VALUES (1, 'j1', 'u', 'overlay', 1, 'in.mp4', 'o.mp4', '{}', 'http://w', 'processing')")
    store = JobStore(sql)
    job = store.load()
    assert job.status == "processing" and job.progress == 0 and not job.index.pending
    job.index = job.index.requested()
    store.save(job)
    assert JobStore(sql).load().index.pending


def test_follow_ups_survive_a_rebuilt_object_and_copies_never_share_them():
    sql = SqlStorage()
    store = JobStore(sql)
    job = record()
    job.cancel = job.cancel.requested().failed(5000)
    job.index = FollowUp().requested_by(7000)
    store.save(job)
    again = JobStore(sql).load()
    assert again.cancel == FollowUp(True, 1, 5000 + 1000) and again.index == FollowUp(True, 0, 7000)
    copy = store.load()
    copy.index = copy.index.deferred(9000)  # a change to a loaded copy, not saved
    assert store.load().index.retry_ms == 7000
