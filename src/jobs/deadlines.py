"""When a job next owes its object's alarm something: its cancel at RunPod, its ask for a slot and the
release of its slots (jobs/admission.py), its submission, its deadlines and its stall watchdog. Pure: no I/O.

Two deadlines per attempt, fixed at the start (`queue_ttl_s`, `execution_timeout_s`; the settings'
for records older than them): an attempt no GPU began running within `queue_ttl_s` of its begin
ends `expired`; one that ran longer than `execution_timeout_s` ends `timed_out`. RunPod is told the
same (`policy`, jobs/submission.py), but the watchdog enforces both even when RunPod says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.model import EXPIRED, PENDING, PROCESSING, QUEUED, TIMED_OUT, JobRecord
from settings import Settings

# What a start may ask (docs/api.md "Deadlines"): RunPod's own minimums (its TTL 10 s, its execution
# timeout 5 s), a day at most each, so their sum stays within RunPod's 7-day TTL and the presigned URLs.
QUEUE_TTL_BOUNDS_S = (10, 86_400)
EXECUTION_TIMEOUT_BOUNDS_S = (5, 86_400)


@dataclass(frozen=True)
class Limits:
    """The deployment's defaults (QUEUE_TTL_S, EXECUTION_TIMEOUT_S) and the stall period (STALL_POLL_S)."""

    queue_ttl_s: int
    execution_timeout_s: int
    stall_poll_s: int

    @classmethod
    def of_settings(cls, settings: Settings) -> Limits:
        return cls(settings.queue_ttl_s, settings.execution_timeout_s, settings.stall_poll_s)

    def of(self, job: JobRecord) -> tuple[int, int]:
        """The job's own deadlines, or the defaults for a record from before they were kept."""
        if job.queue_ttl_s:
            return job.queue_ttl_s, job.execution_timeout_s
        return self.queue_ttl_s, self.execution_timeout_s


def deadline(job: JobRecord, limits: Limits) -> tuple[int, str]:
    """When the current attempt's deadline falls, and the status it ends in then."""
    queue_ttl_s, execution_timeout_s = limits.of(job)
    if job.running_ms is None:
        return job.began_ms + queue_ttl_s * 1000, EXPIRED
    return job.running_ms + execution_timeout_s * 1000, TIMED_OUT


def stall_ms(job: JobRecord, stall_poll_s: int) -> int:
    return job.last_signal_ms + stall_poll_s * 1000


def due_ms(job: JobRecord, limits: Limits) -> int | None:
    """The earliest time something of the job is due (possibly past); None when nothing ever is."""
    due = [f.retry_ms for f in (job.cancel, job.release) if f.pending]  # follow-ups (jobs/followups.py)
    if job.status == QUEUED and job.slot.pending:
        due.append(job.slot.retry_ms)
    if not job.terminal:
        due.append(deadline(job, limits)[0])
    if job.status == PENDING:
        due.append(job.next_submit_ms)
    if job.status == PROCESSING:
        due.append(stall_ms(job, limits.stall_poll_s))
    return min(due) if due else None
