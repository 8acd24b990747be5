"""Every rule of an export job's lifecycle (jobs/lifecycle.py), on CPython with the fakes
(lifecycle_world.py). Attempts and deadlines: test_job_attempts.py."""

from __future__ import annotations

import pytest
from lifecycle_world import SPEC, T0, World, admitted, started

from jobs.export_job import SUBMIT_MARGIN_S, SUBMIT_MAX_ATTEMPTS, SUBMIT_WAITING_MESSAGE

# -- create -------------------------------------------------------------------------------------

async def test_create_stores_the_job_owing_its_database_record_and_an_ask_for_a_slot_now(world):
    job, created = world.job.create(SPEC)
    assert created and job.status == "queued" and job.db_pending and job.slot.pending and job.slot.retry_ms == T0
    assert job.output_key == "final_videos/overlay_j1.mp4" and world.owed == [("j1", 1)]
    assert world.due() == T0
    again, created_again = world.job.create({**SPEC, "project_id": 99})
    assert not created_again and again.project_id == 7 and world.sent == []
    assert world.rebuilt().store.load().job_id == "j1"  # in storage, not only in memory


async def test_a_start_marks_its_submission_in_flight_before_calling_out(world, fake):
    # The start's own invocation submits; what it stored first is the alarm's safety net: due again
    # only once the attempt would have timed out, so the alarm never sends a second /run meanwhile.
    await admitted(world)
    attempt = world.job.begin_submit()
    margin_ms = (world.settings.submit_timeout_s + SUBMIT_MARGIN_S) * 1000
    assert attempt == 1 and world.due() == T0 + margin_ms and fake.runs == []
    await world.job.run_due()  # an alarm now finds nothing due
    assert fake.runs == []
    await world.job.submit(attempt)
    assert len(fake.runs) == 1 and world.record().status == "processing"


# -- submission -----------------------------------------------------------------------------------

async def test_a_submission_goes_out_with_signed_urls_and_tells_the_sockets(world, fake):
    runpod_id = await started(world)
    run = fake.runs[0]
    assert run["webhook"].startswith("http://w.test/api/runpod/callback/j1?u=alice&sig=")
    assert run["input"]["input_url"].startswith("http://w.test/api/storage/object/alice/working_videos/in.mp4?")
    assert run["input"]["output_headers"] == {"Content-Type": "video/mp4"} and "&ct=video%2Fmp4&" in run["input"]["output_url"]
    job = world.record()
    assert job.status == "processing" and job.runpod_id == runpod_id == fake.run_ids[0] and job.submit_attempts == 1
    assert world.sent == [{"type": "status", "job_id": "j1", "status": "processing", "progress": 0,
                           "attempt": 1, "seq": 1}]


@pytest.mark.parametrize("mode", ["unavailable", "fail", "bad_json", "down"])
async def test_a_submission_that_can_succeed_later_is_retried_with_backoff_then_fails(world, fake, mode):
    fake.mode, world.runpod_down = mode, mode == "down"
    world.job.create(SPEC)
    delays = []
    for attempt in range(1, SUBMIT_MAX_ATTEMPTS):
        await world.job.run_due()
        job = world.record()
        assert job.status == "pending" and job.submit_attempts == attempt and job.message == SUBMIT_WAITING_MESSAGE
        delays.append(job.next_submit_ms - world.now)
        world.now = job.next_submit_ms
    assert delays == [min(300_000, 2000 * 2 ** i) for i in range(SUBMIT_MAX_ATTEMPTS - 1)]
    await world.job.run_due()
    job = world.record()
    assert job.status == "error" and job.error.startswith("Could not submit the job to RunPod")
    assert world.sent[-1] == {"type": "error", "job_id": "j1", "error": job.error, "seq": 1}


async def test_a_submission_recovers_once_runpod_is_back_and_clears_the_waiting_message(world, fake):
    fake.mode = "unavailable"
    world.job.create(SPEC)
    await world.job.run_due()
    fake.mode = "ok"
    world.now = world.record().next_submit_ms
    await world.job.run_due()
    job = world.record()
    assert job.status == "processing" and job.message is None and job.submit_waiting == 0


async def test_a_refused_submission_fails_at_once(world, fake):
    fake.mode = "reject"  # 400: the input itself is wrong, retrying cannot help
    world.job.create(SPEC)
    await world.job.run_due()
    assert world.record().status == "error" and world.record().submit_attempts == 1


async def test_a_submission_in_flight_is_not_due_again(world, fake):
    # Another event of the object while /run is out (a replayed start re-arming the alarm) finds
    # nothing to submit; were the attempt lost to a crash, the alarm retries once it would have timed out.
    world.job.create(SPEC)
    seen = {}
    world.during_call = lambda: seen.update(due=world.record().next_submit_ms, now=world.now)
    await world.job.run_due()
    assert seen["due"] >= seen["now"] + world.settings.submit_timeout_s * 1000
    assert len(fake.runs) == 1 and world.record().status == "processing"


async def test_a_cancel_during_the_submission_cancels_what_runpod_just_took(world, fake):
    world.job.create(SPEC)
    world.during_call = lambda: world.job.cancel()
    await world.job.run_due()  # the same alarm run goes on to the cancel it now owes
    job = world.record()
    assert job.status == "cancelled" and job.runpod_id == fake.run_ids[0]
    assert fake.cancel_calls == [fake.run_ids[0]] and not job.cancel.pending


async def test_a_start_cancelled_before_its_submission_goes_out_never_reaches_runpod(world, fake):
    await admitted(world)
    attempt = world.job.begin_submit()
    world.job.cancel()  # delivered between the start's answer and its background submission
    await world.job.submit(attempt)
    assert fake.runs == [] and world.record().status == "cancelled" and not world.record().cancel.pending


async def test_a_job_timed_out_while_its_submission_was_out_is_cancelled_at_runpod(world, fake):
    await admitted(world)
    attempt = world.job.begin_submit()

    world.during_call = lambda: _timed_out(world)
    await world.job.submit(attempt)
    job = world.record()
    assert job.status == "error" and job.runpod_id == fake.run_ids[0] and job.cancel.pending
    await world.alarm_until_idle()
    assert fake.cancel_calls == [fake.run_ids[0]]


def _timed_out(world: World) -> None:
    """The timeout, as the alarm applies it while a submission is out (jobs.state.finish)."""
    from jobs.state import finish

    job = world.record()
    world.job.save_change(job, finish(job, "error", world.now, error="timed out"))


# -- callbacks ------------------------------------------------------------------------------------

async def test_progress_moves_forward_and_is_told(world):
    await started(world)
    assert world.callback({"status": "progress", "progress": 40, "message": "encoding"}) == {
        "received": True, "status": "processing", "progress": 40}
    assert world.sent[-1] == {"type": "progress", "job_id": "j1", "progress": 40, "message": "encoding", "seq": 2}
    assert world.callback({"status": "progress", "progress": 30})["ignored"] == "stale"
    assert world.callback({"status": "progress", "progress": 250})["progress"] == 100  # clamped
    assert world.record().progress == 100


async def test_the_database_is_owed_a_job_when_it_is_created_and_when_it_ends_only(world):
    await started(world)
    world.table.db_written("j1", world.record().version)  # the creation's record was written
    assert not world.record().db_pending
    world.callback({"status": "progress", "progress": 40})
    assert not world.record().db_pending  # progress is not recorded in the database
    world.callback({"status": "complete"})
    assert world.record().db_pending and world.owed[-1] == ("j1", world.record().version)


async def test_a_database_write_of_an_older_version_leaves_the_newer_one_owed(world):
    world.job.create(SPEC)
    written = world.record().version
    world.job.cancel()  # ended while the creation's record was being written
    world.table.db_written("j1", written)
    assert world.record().db_pending and world.table.db_owed(10)[0].status == "cancelled"
    world.table.db_written("j1", world.record().version)
    assert not world.record().db_pending and world.table.db_owed(10) == []
    assert not world.rebuilt().store.load().db_pending  # in storage too


async def test_completion_is_final_duplicates_and_late_reports_are_ignored(world):
    await started(world)
    answer = world.callback({"status": "complete", "output_key": "alice/final_videos/overlay_j1.mp4"})
    assert answer == {"received": True, "status": "complete", "progress": 100}
    assert world.record().output_key == "final_videos/overlay_j1.mp4" and world.record().db_pending
    assert world.callback({"status": "complete", "output_key": "final_videos/overlay_j1.mp4"})["ignored"] == "duplicate"
    assert world.callback({"status": "progress", "progress": 10})["ignored"] == "terminal"
    assert world.callback({"id": "x", "status": "FAILED", "error": "late"})["ignored"] == "terminal"
    assert world.record().status == "complete"


async def test_a_callback_before_submission_answered_means_runpod_has_the_job(world):
    await admitted(world)
    world.callback({"status": "progress", "progress": 5})
    assert world.record().status == "processing" and world.record().started_ms == T0


@pytest.mark.parametrize(("body", "field"), [
    ({"status": "complete", "output_key": "/alice/final_videos/x.mp4"}, "output_key"),
    ({"status": "complete", "output_key": "../x.mp4"}, "output_key"),
    ({"status": "progress", "progress": "lots"}, "progress"),
    ({"status": "dancing"}, "status"),
    (["not", "an", "object"], None),
])
async def test_a_malformed_callback_is_refused_and_changes_nothing(world, body, field):
    await started(world)
    before = world.record()
    answer = world.callback(body)
    assert answer["refused"] == "validation_error" and answer["message"].startswith("Invalid callback: ")
    assert answer["details"][0]["loc"] == (["body", field] if field else ["body"])
    assert world.record() == before


async def test_a_callback_for_no_job_is_not_found(world):
    assert world.callback({"status": "progress"}) == {"refused": "not_found"}


async def test_runpod_webhook_bodies_drive_the_same_rules(world):
    await started(world)
    world.callback({"id": "rp", "status": "CANCELLED"})
    assert world.record().status == "cancelled" and world.sent[-1] == {"type": "cancelled", "job_id": "j1", "seq": 2}


# -- cancel ---------------------------------------------------------------------------------------

async def test_cancel_before_submission_never_reaches_runpod(world, fake):
    world.job.create(SPEC)
    answer = world.job.cancel()
    assert answer["job"]["status"] == "cancelled" and not world.record().cancel.pending
    await world.alarm_until_idle()
    assert fake.runs == [] and fake.cancel_calls == [] and world.due() is None


async def test_cancel_after_submission_tells_runpod_once(world, fake):
    runpod_id = await started(world)
    world.job.cancel()
    await world.alarm_until_idle()
    assert fake.cancel_calls == [runpod_id] and not world.record().cancel.pending


async def test_cancel_refusals(world):
    assert world.job.cancel() == {"refused": "not_found"}
    await started(world)
    world.job.cancel()
    again = world.job.cancel()
    assert again["refused"] == "already_finished" and again["message"] == "The job is already cancelled"
    assert again["job"]["status"] == "cancelled"


async def test_a_failing_runpod_cancel_is_retried_with_backoff_and_one_runpod_refuses_is_dropped(world, fake):
    runpod_id = await started(world)
    world.job.cancel()
    world.runpod_down = True
    await world.job.run_due()
    assert world.record().cancel.failures == 1 and world.record().cancel.retry_ms == world.now + 1000
    world.runpod_down = False
    fake.set_status(runpod_id, None)  # RunPod forgot the job: 404, which retrying cannot change
    fake._statuses.pop(runpod_id)
    world.now += 1000
    await world.job.run_due()
    assert not world.record().cancel.pending and fake.cancel_calls == [runpod_id]


# -- the watchdog and the timeout -------------------------------------------------------------------

async def test_stalled_callbacks_make_the_watchdog_ask_runpod(world, fake):
    runpod_id = await started(world)
    world.now += 30_000
    assert world.due() == world.now
    fake.set_status(runpod_id, {"id": runpod_id, "status": "COMPLETED", "output": {"output_key": "final_videos/o.mp4"}})
    await world.job.run_due()
    assert fake.status_calls == [runpod_id] and world.record().status == "complete"
    assert world.record().output_key == "final_videos/o.mp4"


async def test_a_failed_poll_tries_again_one_stall_period_later(world):
    await started(world)
    world.now += 30_000
    world.runpod_down = True
    await world.job.run_due()
    assert world.record().status == "processing" and world.due() == world.now + 30_000


async def test_a_job_no_gpu_took_in_time_expires_and_is_cancelled_at_runpod(world, fake):
    runpod_id = await started(world)
    world.now = T0 + 3600 * 1000
    await world.alarm_until_idle()
    job = world.record()
    assert fake.status_calls[-1] == runpod_id  # RunPod was asked first: a silent worker may have started it
    assert job.status == "expired" and "queue TTL (3600 s)" in job.error and fake.cancel_calls == [runpod_id]
    assert world.due() is None  # terminal, nothing owed: no alarm at all


# -- webhook events ---------------------------------------------------------------------------------

async def test_a_job_hands_the_events_its_start_asked_for_to_the_outbox(world):
    world.job.create({**SPEC, "webhook_url": "https://r.test/h", "webhook_events": ["started", "completed"]})
    await world.admit()
    world.callback({"status": "progress", "progress": 40})  # not asked for
    world.callback({"status": "complete"})
    world.callback({"status": "complete"})  # a duplicate changes nothing: no second event
    assert world.webhooks == [("started", "processing"), ("completed", "complete")]


async def test_progress_events_and_every_terminal_state_are_events(world):
    await admitted(world, {**SPEC, "webhook_url": "https://r.test/h", "webhook_events": ["progress", "completed"]})
    world.callback({"status": "progress", "progress": 10})  # also makes it processing: that is `started`
    world.callback({"status": "progress", "progress": 20})
    world.callback({"status": "progress", "progress": 20})  # unchanged: no event
    world.job.cancel()
    assert world.webhooks == [("progress", "processing"), ("completed", "cancelled")]


async def test_a_newer_state_the_webhook_is_not_told_of_still_makes_its_waiting_progress_stale(world):
    world.job.create({**SPEC, "webhook_url": "https://r.test/h", "webhook_events": ["progress"]})
    await world.admit()  # `started`: not asked for, and nothing is waiting yet
    world.callback({"status": "progress", "progress": 99})
    world.callback({"status": "error", "error": "lost", "retryable": True})  # `retrying`: not asked for either
    assert world.webhooks == [("progress", "processing")]
    assert world.stale == [("j1", "processing"), ("j1", "queued")]  # the 99 % is not sent after the retry


async def test_progress_is_made_stale_only_for_a_job_that_asked_for_it(world):
    world.job.create({**SPEC, "webhook_url": "https://r.test/h", "webhook_events": ["completed"]})
    await world.job.submit(world.job.begin_submit())
    world.callback({"status": "progress", "progress": 50})
    world.callback({"status": "complete"})
    assert world.webhooks == [("completed", "complete")] and world.stale == []


async def test_a_job_without_a_webhook_has_no_events(world):
    await started(world)
    world.callback({"status": "complete"})
    assert world.webhooks == []


# -- usage ------------------------------------------------------------------------------------------

async def test_runpods_webhook_after_the_workers_complete_still_records_the_usage(world):
    runpod_id = await started(world)
    world.callback({"status": "complete"})  # the GPU worker's own report comes first
    world.table.db_written("j1", world.record().version)
    answer = world.callback({"id": runpod_id, "status": "COMPLETED", "delayTime": 900, "executionTime": 4000})
    assert answer["ignored"] == "duplicate"  # nothing of the state changed ...
    job = world.record()
    assert (job.queue_ms, job.execution_ms) == (900, 4000)  # ... but the usage is kept
    assert job.db_pending  # and owed to the user's records and the usage ledger
