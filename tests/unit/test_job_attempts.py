"""Attempts and deadlines of an export job (jobs/attempts.py, jobs/deadlines.py, jobs/lifecycle.py) on
CPython with the fakes (lifecycle_world.py): retries that keep the job, automatic retries up to the
limit and never for input errors, `expired` against `timed_out`, late reports of earlier attempts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from lifecycle_world import SPEC, T0, admitted, started

from auth import callback_sig
from jobs import attempts
from jobs.attempts import MAX_ATTEMPTS

INTERNAL = {"status": "error", "error": "internal error in the GPU worker (KeyError)", "retryable": True}


async def failed(world, body: dict | None = None) -> str:
    """A started job whose GPU worker reported `body` (an input error by default); its RunPod id."""
    runpod_id = await started(world)
    world.callback(body or {"status": "error", "error": "the input is not a video"})
    return runpod_id


async def run_retry(world) -> dict:
    """A request's retry, submitted as the user's object does it."""
    answer = world.job.retry()
    if "refused" not in answer:
        await world.admit()
    return answer


# -- a request's retry -------------------------------------------------------------------------------

async def test_a_retry_keeps_the_id_and_the_history_and_runs_a_new_attempt(world, fake):
    first_id = await failed(world)
    world.now += 1000
    answer = await run_retry(world)
    body = answer["job"]
    assert body["job_id"] == SPEC["job_id"] and body["status"] == "queued" and body["attempt"] == 2
    job = world.record()
    assert job.status == "processing" and job.runpod_id not in (None, first_id) and len(fake.runs) == 2
    assert world.sent[-2] == {"type": "retrying", "job_id": "j1", "attempt": 2, "seq": 3}  # then the new attempt's status
    shown = job.status_body()["attempts"]
    assert [(a["attempt"], a["runpod_id"], a["outcome"], a["error"]) for a in shown] == [
        (1, first_id, "error", "the input is not a video"), (2, job.runpod_id, None, None)]
    # The new attempt reports with its own URL; the first one's is refused nothing but moves nothing.
    callback = fake.runs[1]["input"]["callback_url"]
    assert parse_qs(urlsplit(callback).query)["a"] == ["2"]
    assert world.job.callback({"status": "complete"}, 1)["ignored"] == "earlier_attempt"
    assert world.record().status == "processing"
    world.job.callback({"status": "complete"}, 2)
    assert world.record().status == "complete"


@pytest.mark.parametrize("end", ["complete", "processing", "pending", "queued"])
async def test_only_a_finished_unsuccessful_job_can_be_retried(world, end):
    if end == "queued":
        world.job.create(SPEC)
    elif end == "pending":
        await admitted(world)
    else:
        await started(world)
    if end == "complete":
        world.callback({"status": "complete"})
    answer = world.job.retry()
    assert answer["refused"] == "not_retryable" and answer["job"]["status"] == end
    assert world.record().attempt == 1


async def test_a_job_has_at_most_max_attempts(world):
    await failed(world)
    for _ in range(MAX_ATTEMPTS - 1):
        await run_retry(world)
        world.job.callback({"status": "error", "error": "bad"}, world.record().attempt)
    assert world.record().attempt == MAX_ATTEMPTS
    assert world.job.retry()["refused"] == "too_many_attempts"
    assert len(world.record().status_body()["attempts"]) == MAX_ATTEMPTS


async def test_a_cancelled_job_retried_before_its_runpod_cancel_went_out_still_cancels_that_attempt(world, fake):
    first_id = await started(world)
    world.job.cancel()  # RunPod's cancel is owed: the alarm sends it
    await run_retry(world)
    second_id = world.record().runpod_id
    await world.alarm_until_idle()
    assert fake.cancel_calls == [first_id]  # the old attempt's, never the new one
    job = world.record()
    assert job.status == "processing" and job.runpod_id == second_id and not job.cancel.pending


async def test_late_usage_of_an_earlier_attempt_is_kept_on_it_and_in_the_total(world):
    await failed(world)
    await run_retry(world)
    world.job.callback({"id": "rp", "status": "FAILED", "delayTime": 500, "executionTime": 4000}, 1)
    world.job.callback({"id": "rp", "status": "COMPLETED", "delayTime": 100, "executionTime": 2000,
                        "output": {"output_key": "final_videos/x.mp4"}}, 2)
    body = world.record().status_body()
    assert [a["usage"]["execution_ms"] for a in body["attempts"]] == [4000, 2000]
    assert body["usage"]["execution_ms"] == 6000 and body["usage"]["queue_ms"] == 600
    # A report repeated never counts twice.
    world.job.callback({"id": "rp", "status": "FAILED", "delayTime": 500, "executionTime": 4000}, 1)
    assert world.record().status_body()["usage"]["execution_ms"] == 6000


# -- automatic retries ----------------------------------------------------------------------------------

async def test_an_internal_error_runs_again_until_the_limit_then_fails(world, fake):
    world.job.create({**SPEC, "webhook_url": "https://r.test/h", "webhook_events": ["retrying", "completed"]})
    await world.admit()
    for attempt in (1, 2, 3):  # JOB_MAX_ATTEMPTS defaults to 3
        assert world.record().attempt == attempt and world.record().status == "processing"
        world.job.callback(INTERNAL, attempt)
        await world.alarm_until_idle()  # the next attempt goes out after its backoff
    job = world.record()
    assert job.status == "error" and job.attempt == 3 and len(fake.runs) == 3
    assert [a["outcome"] for a in job.status_body()["attempts"]] == ["error"] * 3
    assert world.webhooks == [("retrying", "queued"), ("retrying", "queued"), ("completed", "error")]
    retrying = [m for m in world.sent if m["type"] == "retrying"]
    assert [(m["attempt"], m["error"]) for m in retrying] == [(2, INTERNAL["error"]), (3, INTERNAL["error"])]


async def test_an_automatic_retry_waits_a_backoff(world):
    await failed(world, INTERNAL)
    job = world.record()
    # Queued for a slot of its own, asked for after the backoff; the failed attempt's slot is released.
    assert job.status == "queued" and job.slot.retry_ms == world.now + attempts.RETRY_BACKOFF_BASE_S * 1000
    assert job.release.pending and job.release_below == 2


@pytest.mark.parametrize("report", [
    {"status": "error", "error": "no clips"},  # the worker did not say it may run again: the input's
    {"status": "error", "error": "bad", "retryable": False},
    {"id": "rp", "status": "COMPLETED", "output": {"status": "error", "error": "bad input"}},
])
async def test_input_errors_never_run_again(world, fake, report):
    await failed(world, report)
    await world.alarm_until_idle()
    assert world.record().status == "error" and len(fake.runs) == 1


async def test_runpods_failed_is_a_crash_and_runs_again(world, fake):
    await failed(world, {"id": "rp", "status": "FAILED", "error": "Traceback ..."})
    await world.alarm_until_idle()
    assert world.record().attempt == 2 and len(fake.runs) == 2


async def test_a_job_runpod_lost_runs_again(world, fake):
    runpod_id = await started(world)
    fake.forget(runpod_id)  # RunPod answers 404 for it now: its worker vanished
    world.now += 30_000  # the watchdog asks
    await world.job.run_due()
    job = world.record()
    assert job.attempt == 2 and "no longer knows" in job.status_body()["attempts"][0]["error"]


# -- deadlines ----------------------------------------------------------------------------------------

async def test_the_submission_carries_runpods_policy(world, fake):
    world.job.create({**SPEC, "queue_ttl_s": 60, "execution_timeout_s": 300})
    await world.admit()
    assert fake.runs[0]["policy"] == {"ttl": 360_000, "executionTimeout": 300_000}
    callback = fake.runs[0]["input"]["callback_url"]
    assert "a" not in parse_qs(urlsplit(callback).query)  # the first attempt's URL is as it always was


async def test_a_job_that_ran_too_long_times_out_and_is_cancelled(world, fake):
    world.job.create({**SPEC, "queue_ttl_s": 60, "execution_timeout_s": 300})
    await world.admit()
    runpod_id = world.record().runpod_id
    world.now += 50_000
    world.callback({"status": "progress", "progress": 5})  # a GPU runs it: the execution timeout counts now
    running_at = world.now
    world.now += 20_000
    world.callback({"status": "progress", "progress": 9})
    await world.alarm_until_idle()  # the queue TTL passes: it runs, nothing happens
    assert world.record().status == "processing"
    world.now = running_at + 300_000
    fake.set_status(runpod_id, {"id": runpod_id, "status": "IN_PROGRESS"})
    await world.alarm_until_idle()
    job = world.record()
    assert job.status == "timed_out" and "(300 s)" in job.error and fake.cancel_calls == [runpod_id]
    assert world.sent[-1] == {"type": "timed_out", "job_id": "j1", "error": job.error, "seq": 4}


async def test_a_silent_worker_found_running_at_the_queue_deadline_keeps_running(world, fake):
    world.job.create({**SPEC, "queue_ttl_s": 60, "execution_timeout_s": 300})
    await world.admit()
    runpod_id = world.record().runpod_id
    fake.set_status(runpod_id, {"id": runpod_id, "status": "IN_PROGRESS", "executionTime": 10_000})
    world.now = T0 + 60_000
    await world.job.run_due()
    job = world.record()
    assert job.status == "processing" and job.running_ms == world.now - 10_000 and fake.cancel_calls == []


@pytest.mark.parametrize(("report", "running_for_ms", "status"), [
    ({"id": "rp", "status": "TIMED_OUT"}, None, "expired"),  # RunPod's TTL passed before a GPU took it
    ({"id": "rp", "status": "TIMED_OUT", "executionTime": 300_000}, 1000, "timed_out"),
    ({"id": "rp", "status": "TIMED_OUT", "executionTime": 20_000}, 1000, "queued"),  # a lost worker: again
])
async def test_runpods_timed_out_means_what_the_attempt_did(world, report, running_for_ms, status):
    world.job.create({**SPEC, "queue_ttl_s": 60, "execution_timeout_s": 300})
    await world.admit()
    if running_for_ms:
        world.callback({"status": "progress", "progress": 1})
    world.callback(report)
    job = world.record()
    assert job.status == status
    if status == "expired":
        assert job.status_body()["usage"] == {"queue_ms": None, "execution_ms": None, "cost_usd": None}


async def test_an_expired_job_can_be_retried_with_a_fresh_deadline(world, fake):
    world.job.create({**SPEC, "queue_ttl_s": 60, "execution_timeout_s": 300})
    await world.admit()
    world.now += 60_000
    await world.alarm_until_idle()
    assert world.record().status == "expired"
    retried_at = world.now
    await run_retry(world)
    world.now += 59_000
    await world.job.run_due()
    assert world.record().status == "processing"  # its queue TTL counts from the retry
    assert world.due() == retried_at + 60_000


def test_callback_urls_sign_the_attempt():
    first = callback_sig.callback_url("http://w", "j1", "alice", "s")
    second = callback_sig.callback_url("http://w", "j1", "alice", "s", 2)
    sig1, sig2 = (parse_qs(urlsplit(u).query)["sig"][0] for u in (first, second))
    assert callback_sig.verify("s", "j1", "alice", sig1) and callback_sig.verify("s", "j1", "alice", sig2, 2)
    assert not callback_sig.verify("s", "j1", "alice", sig1, 2) and not callback_sig.verify("s", "j1", "alice", sig2)
