"""The job state machine and callback parsing: pure functions, every rule of API.md."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clock import iso_ms as iso
from jobs.callbacks import InvalidCallback, Update, from_runpod_status, parse_callback
from jobs.model import COMPLETE, ERROR, PENDING, PROCESSING, JobRecord
from jobs.state import apply, finish, start_processing


def record(status=PROCESSING, progress=0) -> JobRecord:
    return JobRecord(job_id="j1", user_id="alice", type="overlay", project_id=1, input_key="in.mp4",
                     output_key="final_videos/overlay_j1.mp4", params_json="{}", base_url="http://w",
                     status=status, progress=progress, created_ms=1000, updated_ms=1000)


def test_progress_moves_forward_and_is_told():
    job = record()
    out = apply(job, Update("progress", progress=30, message="encoding"), 2000)
    assert out.changed and out.messages == [{"type": "progress", "job_id": "j1", "progress": 30, "message": "encoding"}]
    out = apply(job, Update("progress", progress=20), 3000)
    assert not out.changed and out.ignored == "stale" and job.progress == 30
    out = apply(job, Update("progress", progress=30, message="encoding"), 3000)
    assert out.ignored == "duplicate" and out.messages == []


def test_pending_becomes_processing_on_any_sign_of_life():
    job = record(status=PENDING)
    out = apply(job, Update("running"), 2000)
    assert job.status == PROCESSING and out.changed and job.started_ms == 2000


def test_terminal_states_are_final():
    job = record()
    out = apply(job, Update("complete", progress=100), 2000)
    assert job.status == COMPLETE and job.progress == 100 and job.completed_ms == 2000
    assert out.messages[0]["output_url"] == "/api/storage/presigned-url?key=final_videos%2Foverlay_j1.mp4"
    assert apply(job, Update("complete", progress=100), 3000).ignored == "duplicate"
    assert apply(job, Update("complete", output_key="final_videos/other.mp4"), 3000).ignored == "terminal"
    for update in (Update("error", error="x"), Update("progress", progress=5), Update("cancelled")):
        assert apply(job, update, 3000).ignored == "terminal"
    assert job.status == COMPLETE and job.completed_ms == 2000


def test_a_finished_job_carries_no_progress_message():
    for status, update in ((COMPLETE, Update("complete")), (ERROR, Update("error", error="boom"))):
        job = record()
        apply(job, Update("progress", progress=40, message="rendering overlay"), 2000)
        apply(job, update, 3000)
        assert job.status == status and job.message is None and "message" not in job.status_body()
        assert "message" not in job.status_message()


def test_status_body_fields_appear_only_when_they_apply():
    job = record()
    body = job.status_body()
    assert "output_key" not in body and "error" not in body and "completed_at" not in body
    finish(job, ERROR, 5000, error="ffmpeg died")
    body = job.status_body()
    assert body["error"] == "ffmpeg died" and "output_key" not in body and body["completed_at"] == iso(5000)
    assert iso(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"


def test_start_processing_keeps_first_start_time():
    job = record(status=PENDING)
    start_processing(job, "rp-1", 2000)
    start_processing(job, "rp-1", 3000)
    assert job.status == PROCESSING and job.started_ms == 2000 and job.runpod_id == "rp-1"


updates = st.one_of(
    st.builds(Update, st.just("progress"), progress=st.one_of(st.none(), st.integers(0, 100)),
              message=st.one_of(st.none(), st.text(max_size=5))),
    st.builds(Update, st.just("running"), progress=st.one_of(st.none(), st.integers(0, 100))),
    st.builds(Update, st.sampled_from(["complete", "error", "cancelled"])),
)


@given(st.lists(updates, max_size=30))
def test_progress_never_decreases_and_terminal_never_changes(seq):
    job = record(status=PENDING)
    seen_terminal = None
    for i, update in enumerate(seq):
        before = job.progress
        apply(job, update, 1000 + i)
        assert job.progress >= before and 0 <= job.progress <= 100
        if seen_terminal:
            assert job.status == seen_terminal
        elif job.terminal:
            seen_terminal = job.status


@pytest.mark.parametrize(("body", "kind", "progress"), [
    ({"status": "progress", "progress": 41.9}, "progress", 41),
    ({"status": "progress", "progress": 250}, "progress", 100),
    ({"status": "progress", "progress": -3}, "progress", 0),
    ({"status": "progress"}, "progress", None),
    ({"status": "complete", "output_key": "final_videos/x.mp4"}, "complete", 100),
    ({"status": "error", "error": {"code": 1}}, "error", None),
    ({"id": "r", "status": "COMPLETED", "output": {"output_key": "k.mp4"}}, "complete", 100),
    ({"id": "r", "status": "FAILED", "error": "oom"}, "error", None),
    ({"id": "r", "status": "CANCELLED"}, "cancelled", None),
    ({"id": "r", "status": "TIMED_OUT"}, "timed_out", None),
    ({"id": "r", "status": "IN_PROGRESS", "output": {"progress": 12}}, "running", 12),
    ({"id": "r", "status": "IN_QUEUE"}, "running", None),
])
def test_callback_bodies(body, kind, progress):
    update = parse_callback(body)
    assert update.kind == kind and update.progress == progress


def test_callback_details():
    assert parse_callback({"status": "error", "error": {"code": 1}}).error == '{"code": 1}'
    assert parse_callback({"status": "error"}).error == "Job failed"
    assert from_runpod_status({"status": "TIMED_OUT"}).error == "RunPod timed the job out"
    assert len(parse_callback({"status": "progress", "message": "m" * 5000}).message) == 1000
    failed_output = from_runpod_status({"status": "COMPLETED", "output": {"status": "error", "error": "bad input"}})
    assert failed_output.kind == "error" and failed_output.error == "bad input" and not failed_output.retryable


@pytest.mark.parametrize(("body", "running", "retryable"), [
    ({"status": "progress", "progress": 3}, True, False),
    ({"status": "error", "error": "bad input"}, True, False),  # the input's fault unless the worker says not
    ({"status": "error", "error": "internal", "retryable": True}, True, True),
    ({"id": "r", "status": "FAILED", "error": "Traceback"}, True, True),  # the handler crashed without a report
    ({"id": "r", "status": "COMPLETED", "output": {"status": "error", "error": "x", "retryable": True}}, True, True),
    ({"id": "r", "status": "IN_QUEUE"}, False, False),
    ({"id": "r", "status": "IN_PROGRESS"}, True, False),
    ({"id": "r", "status": "CANCELLED"}, False, False),
])
def test_reports_say_whether_a_gpu_runs_and_whether_a_failure_may_run_again(body, running, retryable):
    update = parse_callback(body)
    assert (update.running, update.retryable) == (running, retryable)


@pytest.mark.parametrize("body", [
    [], "x", None, {}, {"status": 1}, {"status": "PROGRESS"}, {"status": "done"},
    {"status": "progress", "progress": "5"}, {"status": "progress", "progress": True},
    {"status": "progress", "progress": math.nan}, {"status": "progress", "progress": math.inf},
    {"status": "progress", "message": ["x"]}, {"status": "complete", "output_key": 5},
    {"id": "r", "status": "UNKNOWN"},
    # Every field is checked whatever the status, so whether a body is valid depends on its shape alone.
    {"status": "progress", "output_key": "k" * 1025}, {"status": "progress", "output_key": ""},
    {"id": {}, "status": "FAILED"},
    {"status": "error", "retryable": "yes"}, {"status": "error", "retryable": 1},
    {"id": "r", "status": "FAILED", "output": {"progress": "x"}},
    {"id": "r", "status": "CANCELLED", "output": {"output_key": ["k"]}},
])
def test_malformed_callbacks(body):
    with pytest.raises(InvalidCallback):
        parse_callback(body)


@given(st.sampled_from([PENDING, PROCESSING]), st.sampled_from(["progress", "running", "complete", "error",
                                                               "cancelled"]),
       st.one_of(st.none(), st.integers(0, 100)), st.one_of(st.none(), st.text(max_size=5)))
def test_a_new_status_is_flagged_and_progress_alone_is_not(status, kind, progress, message):
    # The index is told at once of a new status and only within its coalescing window of the rest.
    job = record(status=status, progress=10)
    before = job.status
    out = apply(job, Update(kind, progress=progress, message=message), 2000)
    assert out.new_status == (job.status != before)
    if out.new_status:
        assert out.changed
