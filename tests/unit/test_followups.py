"""The follow-up bookkeeping and the alarm's next time: pure rules, checked over generated records."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jobs import followups
from jobs.model import STATUSES, JobRecord

NOW = 1_800_000_000_000


@st.composite
def records(draw) -> JobRecord:
    created = draw(st.integers(NOW - 10_000_000, NOW))
    job = JobRecord(job_id="j", user_id="u", type="overlay", project_id=1, input_key="i", output_key="o",
                    params_json="{}", base_url="http://w", status=draw(st.sampled_from(STATUSES)),
                    created_ms=created, last_signal_ms=draw(st.integers(created, NOW)),
                    next_submit_ms=draw(st.integers(created, NOW + 1_000_000)))
    for channel in followups.SYNC_CHANNELS:
        if draw(st.booleans()):
            followups.request(job, channel)
            for _ in range(draw(st.integers(0, 5))):
                followups.failed(job, channel, draw(st.integers(NOW - 1_000_000, NOW)))
    return job


@given(records(), st.integers(1, 600), st.integers(1, 7200))
def test_next_alarm_is_the_earliest_due_and_never_in_the_past(job, stall_s, timeout_s):
    due = followups.next_alarm_ms(job, NOW, stall_poll_s=stall_s, job_timeout_s=timeout_s)
    owed = [c for c in followups.SYNC_CHANNELS if followups.is_pending(job, c)]
    if job.terminal and not owed:
        assert due is None
        return
    assert due is not None and due >= NOW
    for channel in owed:
        assert due <= max(NOW, getattr(job, f"{channel}_retry_ms"))
    if not job.terminal:
        assert due <= max(NOW, followups.timeout_ms(job, timeout_s))
    if job.status == "pending":
        assert due <= max(NOW, job.next_submit_ms)
    if job.status == "processing":
        assert due <= max(NOW, followups.stall_ms(job, stall_s))


@given(records())
def test_channels_keep_their_own_failures(job):
    followups.request(job, "index")
    followups.request(job, "cancel")
    before = job.cancel_failures
    followups.failed(job, "index", NOW)
    assert job.cancel_failures == before and followups.is_due(job, "cancel", NOW)
    assert not followups.is_due(job, "index", NOW) and followups.is_due(job, "index", job.index_retry_ms)


def test_backoff_grows_then_gives_up():
    job = JobRecord(job_id="j", user_id="u", type="overlay", project_id=1, input_key="i", output_key="o",
                    params_json="{}", base_url="http://w")
    followups.request(job, "cancel")
    delays = []
    while followups.failed(job, "cancel", NOW):
        delays.append(job.cancel_retry_ms - NOW)
    assert delays == sorted(delays) and delays[0] == 1000 and max(delays) == followups.SYNC_BACKOFF_MAX_S * 1000
    assert len(delays) == followups.SYNC_MAX_FAILURES - 1
    assert not followups.is_pending(job, "cancel") and job.cancel_failures == 0
    followups.request(job, "cancel")
    assert followups.is_due(job, "cancel", NOW)


@given(records(), st.integers(NOW, NOW + 10_000))
def test_a_coalesced_request_never_delays_or_hastens_an_owed_update(job, due):
    owed_before = followups.is_pending(job, "index")
    retry_before = job.index_retry_ms
    followups.request_within(job, "index", due)
    assert followups.is_pending(job, "index")
    # Already owed: its time stands (sooner, or a failure's backoff). Not owed: due by `due`.
    assert job.index_retry_ms == (retry_before if owed_before else due)


@given(records(), st.integers(NOW - 10_000, NOW + 10_000))
def test_a_deferred_update_is_never_sooner_and_never_earlier_than_it_was(job, due):
    followups.request_within(job, "index", NOW)
    before = job.index_retry_ms
    followups.defer(job, "index", due)
    assert job.index_retry_ms == max(before, due) and followups.is_pending(job, "index")
