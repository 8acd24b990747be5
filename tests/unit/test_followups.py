"""Follow-up values and when a job is next due (jobs/followups.py, jobs/deadlines.py): pure rules,
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
    began = draw(st.sampled_from([0, created + 1000]))
    own = draw(st.sampled_from([(0, 0), (60, 30)]))  # (0, 0): a record from before deadlines were kept
    return JobRecord(job_id="j", user_id="u", type="overlay", project_id=1, input_key="i", output_key="o",
                     params_json="{}", base_url="http://w", status=draw(st.sampled_from(STATUSES)),
                     created_ms=created, attempt_ms=began, last_signal_ms=draw(st.integers(created, NOW)),
                     next_submit_ms=draw(st.integers(created, NOW + 1_000_000)),
                     running_ms=draw(st.none() | st.integers(created, NOW)),
                     queue_ttl_s=own[0], execution_timeout_s=own[1], cancel=draw(follow_ups()))


@given(records(), st.integers(1, 600), st.integers(1, 7200), st.integers(1, 7200))
def test_a_job_is_due_at_the_earliest_thing_it_owes(job, stall_s, queue_s, run_s):
    due = deadlines.due_ms(job, deadlines.Limits(queue_s, run_s, stall_s))
    queue_s, run_s = (job.queue_ttl_s, job.execution_timeout_s) if job.queue_ttl_s else (queue_s, run_s)
    owed = [job.cancel.retry_ms] if job.cancel.pending else []
    if not job.terminal:  # waiting for a GPU since the attempt began, or running since a GPU took it
        began = job.attempt_ms or job.created_ms
        owed.append(began + queue_s * 1000 if job.running_ms is None else job.running_ms + run_s * 1000)
    if job.status == "pending":
        owed.append(job.next_submit_ms)
    if job.status == "processing":
        owed.append(deadlines.stall_ms(job, stall_s))
    assert due == (min(owed) if owed else None)
    if job.terminal and not job.cancel.pending:
        assert due is None


@given(follow_ups(), follow_ups())
def test_a_value_keeps_its_own_failures(other, cancel):
    other, cancel = other.requested(), cancel.requested()
    failed = other.failed(NOW)
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


def test_values_are_immutable():
    # Copies of a record share their FollowUp values (jobs/store.py): a mutable one would leak changes.
    with pytest.raises(FrozenInstanceError):
        DONE.requested().pending = False  # type: ignore[misc]
