"""A job's side of the scheduler (jobs/admission.py, jobs/slot_steps.py) on CPython with the fakes
(lifecycle_world.py; the scheduler is the real store in process): queued, then pending when granted at
once or by a push; positions stored and told; the release owed by every end and every new attempt;
cancel and deadlines of a queued job; a scheduler that cannot be reached."""

from __future__ import annotations

from lifecycle_world import SPEC, T0, admitted, started

from jobs.admission import ACQUIRE_WINDOW_MS, NOT_WANTED, TAKEN


def queue_full(world) -> None:
    """The user's own limit is 1 and job `j0` holds it: the next job of theirs waits."""
    world.scheduler.set_limits(per_user=1, total=4)
    world.scheduler.store.acquire("alice", "j0", 1, T0, 60_000, T0)


async def test_a_start_under_the_limits_is_granted_in_one_ask_and_submitted(world, fake):
    job, _ = world.job.create(SPEC)
    assert job.status == "queued" and world.due() == T0  # stored owing its ask, the alarm's safety net
    await world.admit()
    assert world.record().status == "processing" and len(fake.runs) == 1
    assert world.scheduler.calls == [("acquire", "j1", 1)]
    assert world.record().status_body()["priority"] == 0 and world.sent[-1]["status"] == "processing"


async def test_over_the_limit_a_job_waits_with_its_position_then_takes_the_pushed_grant(world, fake):
    queue_full(world)
    world.job.create({**SPEC, "priority": 7})
    await world.admit()
    job = world.record()
    assert job.status == "queued" and job.queue_position == 1 and fake.runs == []
    assert job.status_body()["queue_position"] == 1 and job.status_message()["queue_position"] == 1
    assert not job.slot.pending and world.due() == T0 + 3600_000  # nothing owed but its queue TTL
    await world.job.run_due()
    assert world.scheduler.calls == [("acquire", "j1", 1)]  # asked once: the scheduler pushes the grant
    # The scheduler's grant: taken, the job pending (told to its sockets), then submitted.
    assert world.job.take_slot(1) == {"answer": TAKEN, "submit": True}
    assert world.record().status == "pending" and "queue_position" not in world.record().status_body()
    assert world.sent[-1] == {"type": "status", "job_id": "j1", "status": "pending", "progress": 0, "attempt": 1,
                              "seq": 2}
    assert world.job.take_slot(1) == {"answer": TAKEN, "submit": False}  # a repeated push: no second submission
    await world.job.submit(world.job.begin_submit())
    assert world.record().status == "processing" and len(fake.runs) == 1


async def test_positions_are_stored_and_told_once_each(world):
    queue_full(world)
    world.job.create(SPEC)
    await world.admit()
    world.sent.clear()
    world.job.place(1, 1)  # the position it already has: nothing
    world.job.place(1, 3)
    world.job.place(2, 2)  # another attempt's: nothing
    assert world.record().queue_position == 3
    assert world.sent == [{"type": "queued", "job_id": "j1", "position": 3, "seq": 2}]


async def test_a_queued_jobs_log_keeps_only_its_latest_place_in_line(world):
    queue_full(world)
    world.job.create(SPEC)
    await world.admit()
    for position in (9, 8, 7, 6, 5):
        world.job.place(1, position)
    log = world.log.after("j1", 0)
    assert [m["position"] for m in log if m["type"] == "queued"] == [5]
    assert log[-1]["seq"] == world.record().seq  # the newest event is never thinned


async def test_a_cancelled_queued_job_never_reaches_runpod_and_leaves_the_queue(world, fake):
    queue_full(world)
    world.job.create(SPEC)
    await world.admit()
    answer = world.job.cancel()
    assert answer["job"]["status"] == "cancelled" and "queue_position" not in answer["job"]
    job = world.record()
    assert not job.cancel.pending and job.release.pending and job.release_below == 2  # owed; not in the answer
    assert world.scheduler.store.snapshot()["waiting"] == {"alice": 1}
    await world.alarm_until_idle()
    assert world.scheduler.store.snapshot()["waiting"] == {} and not world.record().release.pending
    assert world.job.take_slot(1) == {"answer": NOT_WANTED, "submit": False}  # a grant that crossed the cancel
    assert fake.runs == [] and fake.cancel_calls == []


async def test_every_end_releases_the_slot(world):
    await started(world)
    assert world.scheduler.store.snapshot()["slots_in_use"] == 1
    world.callback({"status": "complete"})
    assert world.record().release.pending and world.due() <= world.now
    await world.alarm_until_idle()
    assert world.scheduler.store.snapshot()["slots_in_use"] == 0
    assert world.scheduler.calls[-1] == ("release", "j1", 2) and not world.record().release.pending


async def test_an_automatic_retry_releases_the_last_attempts_slot_and_asks_for_its_own(world, fake):
    await started(world)
    world.callback({"status": "error", "error": "internal error", "retryable": True})
    job = world.record()
    assert job.status == "queued" and job.attempt == 2 and job.release_below == 2
    await world.alarm_until_idle()
    assert world.record().status == "processing" and len(fake.runs) == 2
    slots = world.scheduler.store.snapshot()["slots"]
    assert [(s["job_id"], s["attempt"]) for s in slots] == [("j1", 2)]


async def test_a_queued_job_past_its_queue_ttl_expires_and_leaves_the_queue(world, fake):
    queue_full(world)
    world.job.create({**SPEC, "queue_ttl_s": 60})
    await world.admit()
    world.now += 60_000
    await world.alarm_until_idle()
    job = world.record()
    assert job.status == "expired" and "queue TTL" in job.error and fake.cancel_calls == []
    assert world.scheduler.store.snapshot()["waiting"] == {}


async def test_a_scheduler_out_of_reach_is_asked_again_with_backoff(world, fake):
    world.scheduler.down = True
    world.job.create(SPEC)
    await world.admit()
    job = world.record()
    assert job.status == "queued" and job.slot.pending and job.slot.failures == 1
    assert world.due() == T0 + 1000
    world.scheduler.down = False
    await world.alarm_until_idle()
    assert world.record().status == "processing" and len(fake.runs) == 1


async def test_an_ask_in_flight_is_not_asked_again_by_the_alarm(world):
    world.job.create(SPEC)
    assert world.job.begin_acquire()
    assert world.due() == T0 + ACQUIRE_WINDOW_MS
    await world.job.run_due()
    assert world.scheduler.calls == []


async def test_a_job_cancelled_while_its_ask_was_out_gives_back_what_it_got(world):
    world.job.create(SPEC)
    world.job.begin_acquire()
    world.scheduler.calls.clear()

    class CancelDuringAsk:  # the cancel runs while the ask is out, as another event of the object
        async def acquire(self, *args):
            world.job.cancel()
            return await world.scheduler.acquire(*args)

        async def release(self, *args):
            return await world.scheduler.release(*args)

    world.job.ports.scheduler = lambda: CancelDuringAsk()
    assert not await world.job.acquire()
    # Owed, not sent in the ask's step: the alarm the object sets next sends it (stored first, as every call out).
    assert world.record().release.pending and world.scheduler.store.snapshot()["slots_in_use"] == 1
    await world.alarm_until_idle()
    assert world.scheduler.store.snapshot()["slots_in_use"] == 0  # released once the ask had surely arrived
    assert world.record().status == "cancelled" and not world.record().release.pending


async def test_a_requested_retry_is_queued_and_asks_again(world, fake):
    await admitted(world)
    world.job.cancel()
    await world.alarm_until_idle()
    assert world.job.retry()["job"]["status"] == "queued"
    await world.admit()
    assert world.record().status == "processing" and world.record().attempt == 2 and len(fake.runs) == 1


# -- seams between the scheduler, retries and the submission (a review of the merged whole) ------------

async def test_a_run_of_an_attempt_cancelled_and_retried_while_it_was_out_is_cancelled_not_adopted(world, fake):
    await admitted(world)
    queue_full(world)  # the retry waits for a slot

    def cancel_then_retry() -> None:  # while the first /run is out
        world.job.cancel()
        assert "job" in world.job.retry()

    world.during_call = cancel_then_retry
    await world.job.submit(world.job.begin_submit())
    first_run = fake.run_ids[0]
    job = world.record()
    assert job.attempt == 2 and job.status == "queued" and job.runpod_id is None
    assert job.cancel_runpod_id == first_run and job.cancel.pending
    await world.alarm_until_idle()
    assert fake.cancel_calls == [first_run]
    assert world.record().status == "queued" and world.record().runpod_id is None


async def test_a_refused_run_of_an_earlier_attempt_does_not_end_the_current_one(world, fake):
    await admitted(world)
    fake.mode = "reject"  # RunPod refuses the /run (not retryable)

    def cancel_then_retry_granted() -> None:
        world.job.cancel()
        world.job.retry()
        assert world.job.take_slot(2)["answer"] == TAKEN  # the retry's slot pushed at once: pending

    world.during_call = cancel_then_retry_granted
    await world.job.submit(world.job.begin_submit())
    assert world.record().attempt == 2 and world.record().status == "pending" and world.record().error is None


async def test_a_queued_job_asks_for_its_slot_until_its_queue_ttl_however_long_the_scheduler_is_down(world):
    world.scheduler.down = True
    world.job.create({**SPEC, "queue_ttl_s": 86400})
    assert world.job.begin_acquire() and not await world.job.acquire()
    for _ in range(40):  # past the limit at which other follow-ups give up
        world.now = max(world.now, world.record().slot.retry_ms)
        assert world.job.begin_acquire() and not await world.job.acquire()
    assert world.record().slot.pending and world.record().slot.retry_ms < world.now + 3600_000
    world.scheduler.down = False
    world.now = world.record().slot.retry_ms
    assert world.job.begin_acquire() and await world.job.acquire()
    assert world.record().status == "pending"


async def test_a_worker_report_during_the_run_request_makes_one_started_webhook(world):
    await admitted(world, {**SPEC, "webhook_url": "https://r.test/h", "webhook_events": ["started", "completed"]})
    world.during_call = lambda: world.callback({"status": "progress", "progress": 5})
    await world.job.submit(world.job.begin_submit())
    assert world.webhooks == [("started", "processing")]
    assert [m["type"] for m in world.sent].count("status") == 0  # the report said it: no second status event


async def test_a_job_told_it_waits_hears_when_its_re_ask_is_granted(world):
    queue_full(world)
    world.job.create(SPEC)
    await world.admit()
    assert world.record().queue_position is not None
    world.scheduler.store.release("j0", 2, world.now)  # j0 ends: its slot is offered to j1 (a push to come)
    world.sent.clear()
    job = world.record()
    job.slot = job.slot.requested()  # an ask whose answer was lost is asked again
    world.ports.store.save(job)
    assert world.job.begin_acquire() and await world.job.acquire()
    assert [(m["type"], m.get("status")) for m in world.sent] == [("status", "pending")]
