"""Follow-up values and the alarm's next time (jobs/followups.py, jobs/deadlines.py): pure rules,
checked over generated records."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs import deadlines
from jobs.followups import DONE, SYNC_BACKOFF_MAX_S, SYNC_MAX_FAILURES, FollowUp
from jobs.model import STATUSES, JobRecord

NOW = 1_800_000_000_000


@st.composite
def follow_ups(draw) -> FollowUp:
    value = DONE
    if draw(st.booleans()):
        value = value.requested()
        for _ in range(draw(st.integers(0, 5))):
            value = value.failed(draw(st.integers(NOW - 1_000_000, NOW)))
    return value


@st.composite
def records(draw) -> JobRecord:
    created = draw(st.integers(NOW - 10_000_000, NOW))
    return JobRecord(job_id="j", user_id="u", type="overlay", project_id=1, input_key="i", output_key="o",
                     params_json="{}", base_url="http://w", status=draw(st.sampled_from(STATUSES)),
                     created_ms=created, last_signal_ms=draw(st.integers(created, NOW)),
                     next_submit_ms=draw(st.integers(created, NOW + 1_000_000)),
                     cancel=draw(follow_ups()), index=draw(follow_ups()))


@given(records(), st.integers(1, 600), st.integers(1, 7200))
def test_next_alarm_is_the_earliest_due_and_never_in_the_past(job, stall_s, timeout_s):
    due = deadlines.next_alarm_ms(job, NOW, stall_poll_s=stall_s, job_timeout_s=timeout_s)
    owed = [f for f in (job.cancel, job.index) if f.pending]
    if job.terminal and not owed:
        assert due is None
        return
    assert due is not None and due >= NOW
    for follow_up in owed:
        assert due <= max(NOW, follow_up.retry_ms)
    if not job.terminal:
        assert due <= max(NOW, deadlines.timeout_ms(job, timeout_s))
    if job.status == "pending":
        assert due <= max(NOW, job.next_submit_ms)
    if job.status == "processing":
        assert due <= max(NOW, deadlines.stall_ms(job, stall_s))


@given(follow_ups(), follow_ups())
def test_channels_keep_their_own_failures(index, cancel):
    index, cancel = index.requested(), cancel.requested()
    failed = index.failed(NOW)
    assert cancel.due(NOW) and cancel.failures == cancel.requested().failures
    assert failed.pending and not failed.due(NOW) and failed.due(failed.retry_ms)


def test_backoff_grows_then_gives_up():
    value = DONE.requested()
    delays = []
    while True:
        value = value.failed(NOW)
        if not value.pending:
            break
        delays.append(value.retry_ms - NOW)
    assert delays == sorted(delays) and delays[0] == 1000 and max(delays) == SYNC_BACKOFF_MAX_S * 1000
    assert len(delays) == SYNC_MAX_FAILURES - 1
    assert value == DONE
    assert value.requested().due(NOW)


@given(follow_ups(), st.integers(NOW, NOW + 10_000))
def test_a_coalesced_request_never_delays_or_hastens_an_owed_update(before, due):
    after = before.requested_by(due)
    assert after.pending
    # Already owed: its time stands (sooner, or a failure's backoff). Not owed: due by `due`.
    assert after.retry_ms == (before.retry_ms if before.pending else due)


@given(follow_ups(), st.integers(NOW - 10_000, NOW + 10_000))
def test_a_deferred_update_is_never_sooner_than_it_was(before, due):
    owed = before.requested_by(NOW)
    after = owed.deferred(due)
    assert after.retry_ms == max(owed.retry_ms, due) and after.pending


def test_values_are_immutable():
    # Copies of a record share their FollowUp values (jobs/store.py): a mutable one would leak changes.
    with pytest.raises(FrozenInstanceError):
        DONE.requested().pending = False  # type: ignore[misc]
