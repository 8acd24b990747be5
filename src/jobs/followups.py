"""What a job still owes the outside world, and when its alarm must next run. Pure: no I/O.

Crash safety rests on one rule: a Durable Object handler never does outbound I/O before the work is
written down. It stores the record with the follow-ups it needs (below) and sets the alarm; the
alarm handler is the one place that does the outbound work. If the process dies anywhere, the
stored record and its alarm finish the job after a restart.

Follow-ups, each with its own failure count and retry time, so that a broken channel never delays
or exhausts another:
- `submit`: the job is pending and due for submission to RunPod at `next_submit_ms`;
- `cancel`: RunPod must be told to cancel `runpod_id`;
- `index`: the user's job index (UserJobs) has not seen the latest version. A new status is owed at
  once; progress and messages alone within `INDEX_COALESCE_MS`, so a job reporting progress many
  times a second pushes to its index (and runs its alarm) a few times a minute, not once per report.
  The index passes creations and terminal states on to the user's database in R2
  (durable_objects/user_db_sync.py), batched per user.
Plus the two clocks every live job runs on: the timeout and the stall watchdog.
"""

from __future__ import annotations

from jobs.model import PENDING, PROCESSING, JobRecord

SYNC_CHANNELS = ("index", "cancel")
SYNC_BACKOFF_BASE_S = 1.0
SYNC_BACKOFF_MAX_S = 300.0
# A channel that failed this often is given up on (logged): its target is gone or refuses for good.
SYNC_MAX_FAILURES = 20
INDEX_COALESCE_MS = 2000


def backoff_ms(base_s: float, attempt: int, cap_s: float) -> int:
    """Exponential backoff: base, 2·base, 4·base, … capped; attempt counts from 1."""
    return int(min(cap_s, base_s * 2 ** max(0, attempt - 1)) * 1000)


def _pending_field(channel: str) -> str:
    return "runpod_cancel_pending" if channel == "cancel" else f"{channel}_pending"


def is_pending(job: JobRecord, channel: str) -> bool:
    return bool(getattr(job, _pending_field(channel)))


def is_due(job: JobRecord, channel: str, now_ms: int) -> bool:
    return is_pending(job, channel) and getattr(job, f"{channel}_retry_ms") <= now_ms


def request(job: JobRecord, channel: str) -> None:
    """Owe `channel` an update (again); due at once."""
    setattr(job, _pending_field(channel), 1)
    setattr(job, f"{channel}_retry_ms", 0)


def request_within(job: JobRecord, channel: str, due_ms: int) -> None:
    """Owe `channel` an update by `due_ms`, unless one is already owed: its time (sooner, or a
    failure's backoff) stands, and the update it sends will carry this change too."""
    if not is_pending(job, channel):
        setattr(job, _pending_field(channel), 1)
        setattr(job, f"{channel}_retry_ms", due_ms)


def defer(job: JobRecord, channel: str, due_ms: int) -> None:
    """An owed update of `channel` goes no sooner than `due_ms`."""
    setattr(job, f"{channel}_retry_ms", max(getattr(job, f"{channel}_retry_ms"), due_ms))


def done(job: JobRecord, channel: str) -> None:
    setattr(job, _pending_field(channel), 0)
    setattr(job, f"{channel}_failures", 0)
    setattr(job, f"{channel}_retry_ms", 0)


def failed(job: JobRecord, channel: str, now_ms: int) -> bool:
    """Count a failure and set the retry time. False when the channel is given up on (then not pending)."""
    failures = getattr(job, f"{channel}_failures") + 1
    if failures >= SYNC_MAX_FAILURES:
        done(job, channel)
        return False
    setattr(job, f"{channel}_failures", failures)
    setattr(job, f"{channel}_retry_ms", now_ms + backoff_ms(SYNC_BACKOFF_BASE_S, failures, SYNC_BACKOFF_MAX_S))
    return True


def timeout_ms(job: JobRecord, job_timeout_s: int) -> int:
    return job.created_ms + job_timeout_s * 1000


def stall_ms(job: JobRecord, stall_poll_s: int) -> int:
    return job.last_signal_ms + stall_poll_s * 1000


def next_alarm_ms(job: JobRecord, now_ms: int, *, stall_poll_s: int, job_timeout_s: int) -> int | None:
    """When the alarm must next run: the earliest thing due, never earlier than now; None when nothing is."""
    due: list[int] = []
    for channel in SYNC_CHANNELS:
        if is_pending(job, channel):
            due.append(getattr(job, f"{channel}_retry_ms"))
    if not job.terminal:
        due.append(timeout_ms(job, job_timeout_s))
    if job.status == PENDING:
        due.append(job.next_submit_ms)
    if job.status == PROCESSING:
        due.append(stall_ms(job, stall_poll_s))
    return max(now_ms, min(due)) if due else None
