"""When a job's alarm must next run: its follow-ups, its submission, its timeout and its stall watchdog.
Pure: no I/O."""

from __future__ import annotations

from jobs.model import PENDING, PROCESSING, JobRecord


def timeout_ms(job: JobRecord, job_timeout_s: int) -> int:
    return job.created_ms + job_timeout_s * 1000


def stall_ms(job: JobRecord, stall_poll_s: int) -> int:
    return job.last_signal_ms + stall_poll_s * 1000


def next_alarm_ms(job: JobRecord, now_ms: int, *, stall_poll_s: int, job_timeout_s: int) -> int | None:
    """When the alarm must next run: the earliest thing due, never earlier than now; None when nothing is."""
    due = [f.retry_ms for f in (job.cancel, job.index) if f.pending]
    if not job.terminal:
        due.append(timeout_ms(job, job_timeout_s))
    if job.status == PENDING:
        due.append(job.next_submit_ms)
    if job.status == PROCESSING:
        due.append(stall_ms(job, stall_poll_s))
    return max(now_ms, min(due)) if due else None
