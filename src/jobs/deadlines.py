"""When a job next owes its object's alarm something: its cancel at RunPod, its submission, its
timeout and its stall watchdog. Pure: no I/O."""

from __future__ import annotations

from jobs.model import PENDING, PROCESSING, JobRecord


def timeout_ms(job: JobRecord, job_timeout_s: int) -> int:
    return job.created_ms + job_timeout_s * 1000


def stall_ms(job: JobRecord, stall_poll_s: int) -> int:
    return job.last_signal_ms + stall_poll_s * 1000


def due_ms(job: JobRecord, *, stall_poll_s: int, job_timeout_s: int) -> int | None:
    """The earliest time something of the job is due (possibly past); None when nothing ever is."""
    due = [job.cancel.retry_ms] if job.cancel.pending else []
    if not job.terminal:
        due.append(timeout_ms(job, job_timeout_s))
    if job.status == PENDING:
        due.append(job.next_submit_ms)
    if job.status == PROCESSING:
        due.append(stall_ms(job, stall_poll_s))
    return min(due) if due else None
