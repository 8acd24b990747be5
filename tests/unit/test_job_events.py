"""A job's events (jobs/events.py): their numbers, the bounded log and its thinning, what a subscriber
that comes back with `since` is sent, how `since`/`Last-Event-ID` are read, and their SSE form. On CPython
with the lifecycle's fakes (lifecycle_world.py), whose broadcast logs each change as the object does."""

from __future__ import annotations

import pytest
from lifecycle_world import started

from bindings.do_sql import rows
from bounds import MAX_INT
from jobs import events, sse
from jobs.events import InvalidSeq, since_of


def logged(world) -> list[dict]:
    return world.log.after("j1", 0)


def rows_of_job(world) -> int:
    return rows(world.sql, "SELECT COUNT(*) AS n FROM job_events WHERE job_id = 'j1'")[0]["n"]


# -- numbers ----------------------------------------------------------------------------------------

async def test_every_event_is_numbered_in_order_and_the_record_keeps_the_last(world):
    await started(world)
    world.callback({"status": "progress", "progress": 10, "message": "encoding"})
    world.callback({"status": "progress", "progress": 10, "message": "encoding"})  # nothing new: no event
    world.callback({"status": "complete"})
    assert [(m["type"], m["seq"]) for m in world.sent] == [("status", 1), ("progress", 2), ("complete", 3)]
    job = world.record()
    assert job.seq == 3 and job.status_body()["seq"] == 3 and job.status_message()["seq"] == 3
    assert world.rebuilt().store.load().seq == 3  # stored with the record, not only in memory
    assert logged(world) == world.sent  # each logged in the step that numbered it


async def test_a_change_without_an_event_moves_no_number(world):
    await started(world)
    world.callback({"status": "progress", "progress": 20})
    world.callback({"status": "progress", "progress": 10})  # stale: saved (a sign of life), told to nobody
    assert world.record().seq == 2 and len(world.sent) == 2


async def test_a_retry_continues_the_numbers_of_the_job(world):
    await started(world)
    world.callback({"status": "error", "error": "the input is not a video"})
    world.job.retry()
    await world.admit()  # the retry's slot granted at once: pending, then submitted
    world.job.callback({"status": "progress", "progress": 5}, 2)
    assert [(m["type"], m["seq"]) for m in world.sent] == [
        ("status", 1), ("error", 2), ("retrying", 3), ("status", 4), ("progress", 5)]
    assert world.record().seq == 5


# -- the log ----------------------------------------------------------------------------------------

async def test_the_log_keeps_every_status_change_and_the_latest_progress_of_each_band(world):
    await started(world)
    for progress in range(1, 100):
        world.callback({"status": "progress", "progress": progress})
    world.callback({"status": "complete"})
    log = logged(world)
    assert log[0]["type"] == "status" and log[-1]["type"] == "complete" and log[-1]["seq"] == world.record().seq
    assert [m["progress"] for m in log if m["type"] == "progress"] == list(range(4, 100, events.PROGRESS_BAND))
    assert [m["seq"] for m in log] == sorted(m["seq"] for m in log)


async def test_a_newer_message_of_a_band_replaces_the_older_one(world):
    await started(world)
    world.callback({"status": "progress", "progress": 41, "message": "encoding"})
    world.callback({"status": "progress", "progress": 41, "message": "muxing"})
    assert [(m["type"], m.get("message")) for m in logged(world)] == [("status", None), ("progress", "muxing")]


async def test_thinning_never_reaches_past_another_event(world):
    await started(world)
    world.callback({"status": "progress", "progress": 3})
    world.callback({"status": "error", "error": "internal error in the GPU worker", "retryable": True})
    await world.alarm_until_idle()  # the automatic retry is submitted: the new attempt's status
    world.job.callback({"status": "progress", "progress": 2}, 2)  # the same band, in another run
    assert [(m["type"], m.get("progress")) for m in logged(world)] == [
        ("status", 0), ("progress", 3), ("retrying", None), ("status", 0), ("progress", 2)]


async def test_the_log_of_a_job_is_capped_with_a_gap_the_replay_does_not_pretend_away(world, monkeypatch):
    monkeypatch.setattr(events, "MAX_EVENTS", 10)
    await started(world)
    for progress in range(5, 100, 5):  # each in a band of its own: nothing to thin
        world.callback({"status": "progress", "progress": progress})
    job = world.record()
    assert job.seq == 20 and rows_of_job(world) == 10
    assert world.log.after("j1", 0) is None  # the oldest were dropped
    assert world.log.catch_up(job, 0) == [job.status_message()]  # so: the state, not a gap
    assert world.log.catch_up(job, 17) == world.sent[-3:]  # what is still logged is replayed
    world.callback({"status": "complete"})
    assert rows_of_job(world) == 10 and logged(world) is None
    assert world.log.catch_up(world.record(), 19) == world.sent[-2:]


async def test_forget_removes_a_jobs_events(world):
    await started(world)
    world.log.forget("j1")
    assert rows_of_job(world) == 0


# -- catching up ------------------------------------------------------------------------------------

async def test_a_subscriber_is_sent_what_it_missed_in_order(world):
    await started(world)
    world.callback({"status": "progress", "progress": 30})
    world.callback({"status": "progress", "progress": 60, "message": "half"})
    world.callback({"status": "complete"})
    job = world.record()
    assert world.log.catch_up(job, 0) == world.sent
    assert world.log.catch_up(job, 1) == world.sent[1:]  # cut across processing → complete: both come
    assert world.log.catch_up(job, 3) == [world.sent[-1]]
    assert world.log.catch_up(job, 4) == []  # up to date: nothing


async def test_a_thinned_event_is_no_gap(world):
    await started(world)
    world.callback({"status": "progress", "progress": 31})
    world.callback({"status": "progress", "progress": 33})  # replaces 31 (seq 2) in the log
    job = world.record()
    assert world.log.catch_up(job, 1) == [world.sent[-1]] == world.log.catch_up(job, 2)


async def test_a_since_the_log_cannot_place_gets_the_status_snapshot(world):
    await started(world)
    world.callback({"status": "progress", "progress": 50})
    job = world.record()
    snapshot = [{**job.status_message(), "seq": 2}]
    assert world.log.catch_up(job, 9) == snapshot  # beyond the job's last event
    world.log.forget("j1")  # as for a job whose events predate the log
    assert world.log.catch_up(job, 0) == snapshot


# -- reading `since` ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "header", "expected"), [
    ("", None, None), ("token=abc", None, None), ("since=0", None, 0), ("since=42&token=x", None, 42),
    ("since=007", None, 7), (f"since={MAX_INT}", None, MAX_INT), ("since=5", "7", 7), ("", "0", 0),
])
def test_since_comes_from_last_event_id_or_the_query(query, header, expected):
    assert since_of(query, header) == expected


@pytest.mark.parametrize(("query", "header", "loc"), [
    ("since=-1", None, "since"), ("since=", None, "since"), ("since=1e3", None, "since"),
    ("since=+4", None, "since"), ("since=%D9%A1", None, "since"), ("since=1&since=2", None, "since"),
    (f"since={MAX_INT + 1}", None, "since"), ("since=" + "9" * 5000, None, "since"),
    ("since=1", "abc", "Last-Event-ID"), ("", " 5", "Last-Event-ID"), ("", "", "Last-Event-ID"),
])
def test_a_since_that_is_no_seq_is_refused_naming_it(query, header, loc):
    with pytest.raises(InvalidSeq) as refused:
        since_of(query, header)
    assert refused.value.loc[-1] == loc and refused.value.details()[0]["loc"][-1] == loc


def test_an_event_as_a_server_sent_event():
    message = {"type": "progress", "job_id": "j", "progress": 5, "message": "a\nb\u2028", "seq": 7}
    assert sse.frame(message) == ('id: 7\nevent: progress\n'
                                  'data: {"type":"progress","job_id":"j","progress":5,"message":"a\\nb\\u2028","seq":7}\n\n')
    assert sse.body([message]).startswith("retry: ") and sse.body([message]).endswith(sse.frame(message))


def test_which_events_end_a_job():
    assert events.ends_job({"type": "complete"}) and events.ends_job({"type": "timed_out"})
    assert events.ends_job({"type": "status", "status": "cancelled"})
    assert not events.ends_job({"type": "status", "status": "processing"})
    assert not events.ends_job({"type": "retrying"}) and not events.ends_job({"type": "progress"})
