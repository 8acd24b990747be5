"""The job state machine: how an update changes a record, and what subscribers are told.

pending → processing → complete | error | cancelled | expired | timed_out. Terminal states change
only by a new attempt (jobs/attempts.py: a retry, which starts the record over as `queued`);
progress is an int 0–100 that never decreases within an attempt. `apply` mutates the record and returns what
happened, so the Durable Object only has to persist and broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.callbacks import Update
from jobs.model import (
    CANCELLED,
    COMPLETE,
    ERROR,
    EXPIRED,
    PENDING,
    PROCESSING,
    TIMED_OUT,
    JobRecord,
    output_url_for,
)


@dataclass
class Outcome:
    changed: bool = False
    new_status: bool = False  # the status moved
    ignored: str | None = None  # "terminal", "duplicate" or "stale" when nothing changed
    messages: list[dict] = field(default_factory=list)  # WebSocket messages to broadcast, in order


def start_processing(job: JobRecord, runpod_id: str, now_ms: int) -> None:
    job.runpod_id = runpod_id
    if job.status == PENDING:
        job.status = PROCESSING
        job.started_ms = job.started_ms or now_ms
    job.last_signal_ms = now_ms
    job.updated_ms = now_ms


def finish(job: JobRecord, status: str, now_ms: int, *, error: str | None = None,
           output_key: str | None = None) -> Outcome:
    """Move a non-terminal job to a terminal state and say so.

    The message goes: it described work in progress ("rendering overlay", "RunPod unreachable,
    retrying"), and a finished job's status, error and output say all there is."""
    job.status = status
    job.message = None
    job.completed_ms = now_ms
    job.updated_ms = now_ms
    job.last_signal_ms = now_ms
    if status == COMPLETE:
        job.progress = 100
        job.output_key = output_key or job.output_key
        job.error = None
        msg = {"type": "complete", "job_id": job.job_id, "output_key": job.output_key,
               "output_url": output_url_for(job.output_key)}
    elif status in (ERROR, EXPIRED, TIMED_OUT):
        job.error = error or "Job failed"
        msg = {"type": status, "job_id": job.job_id, "error": job.error}
    else:
        msg = {"type": "cancelled", "job_id": job.job_id}
    return Outcome(changed=True, new_status=True, messages=[msg])


def apply(job: JobRecord, update: Update, now_ms: int) -> Outcome:
    """Apply an update (already validated; `output_key` already made relative and checked)."""
    if job.terminal:
        same_complete = (job.status == COMPLETE and update.kind == "complete"
                         and (update.output_key or job.output_key) == job.output_key)
        return Outcome(ignored="duplicate" if same_complete else "terminal")
    job.last_signal_ms = now_ms
    if update.running and job.running_ms is None:
        # RunPod's executionTime says how long it has run: the start is that much ago (not before the attempt).
        job.running_ms = max(job.began_ms, now_ms - (update.execution_ms or 0))
    if update.kind == "complete":
        return finish(job, COMPLETE, now_ms, output_key=update.output_key)
    if update.kind in (ERROR, EXPIRED, TIMED_OUT):
        return finish(job, update.kind, now_ms, error=update.error)
    if update.kind == "cancelled":
        return finish(job, CANCELLED, now_ms)

    outcome = Outcome()
    if job.status == PENDING:  # any sign of life from RunPod means it has the job
        job.status, job.started_ms = PROCESSING, job.started_ms or now_ms
        outcome.changed = outcome.new_status = True
    progress = update.progress
    if progress is not None and progress < job.progress:
        outcome.ignored = "stale"
        progress = None
    new_progress = progress is not None and progress > job.progress
    new_message = update.message is not None and update.message != job.message
    if new_progress:
        job.progress = progress
    if new_message:
        job.message = update.message
    if new_progress or new_message:
        msg = {"type": "progress", "job_id": job.job_id, "progress": job.progress}
        if job.message:
            msg["message"] = job.message
        outcome.messages.append(msg)
        outcome.changed = True
        outcome.ignored = None
    elif not outcome.changed and outcome.ignored is None:
        outcome.ignored = "duplicate" if update.kind == "progress" else None
    if outcome.changed:
        job.updated_ms = now_ms
    return outcome
