"""A job's side of the scheduler (scheduling/, docs/api.md "Scheduling"): the rules, with no I/O.

A job starts `queued`, owing the scheduler an ask for a slot (`slot`, a FollowUp): the start stores
that and sets the alarm, then asks in the same invocation (the alarm asks again if that is lost).
Granted at once (under both limits), the job turns `pending` and is submitted as before; else it
waits with a `queue_position`, which the scheduler updates as it changes, until the scheduler pushes
the grant (`take`). Every attempt asks for its own slot: a retry is queued again (attempts.begin_next).

A job owes the scheduler the release of its slots (`release`, of every attempt below `release_below`)
once it no longer needs them: when it ends (any terminal state, a cancelled queued job included) and
when a new attempt begins. The alarm sends it; the answer to a client never waits on it. Releasing
is idempotent, so a release repeated after a crash frees nothing twice.
"""

from __future__ import annotations

from jobs.deadlines import Limits
from jobs.followups import DONE, FollowUp
from jobs.model import PENDING, PROCESSING, QUEUED, JobRecord
from jobs.state import Outcome
from scheduling import policy

ACQUIRE_WINDOW_MS = 10_000  # while an ask is out the job is not due for another; a lost one is asked again after it
TAKEN, NOT_WANTED = "taken", "not_wanted"  # answers to the scheduler's push of a grant (scheduling/pushes.py)


def enqueue(job: JobRecord, due_ms: int) -> None:
    """The job's current attempt waits for a slot, asked for from `due_ms` (now, or after a retry's backoff);
    an earlier attempt's slot is released."""
    job.status, job.queue_position = QUEUED, None
    job.slot = FollowUp(True, 0, due_ms)
    if job.attempt > 1:
        owe_release(job, job.attempt)


def owe_release(job: JobRecord, below: int) -> None:
    """The slots of the job's attempts below `below` are to be released."""
    job.release_below = max(job.release_below, below)
    job.release = job.release.requested()


def ended(job: JobRecord) -> None:
    """The job reached a terminal state: it asks for nothing more, and frees what it holds or waits for."""
    job.slot, job.queue_position = DONE, None
    owe_release(job, job.attempt + 1)


def begin_acquire(job: JobRecord, now: int) -> bool:
    """Mark the ask for a slot in flight (stored by the caller before it goes out); False when none is owed."""
    if job.status != QUEUED or not job.slot.pending:
        return False
    job.slot = FollowUp(True, job.slot.failures, now + ACQUIRE_WINDOW_MS)
    return True


def acquire_args(job: JobRecord, limits: Limits) -> tuple:
    """What the scheduler's `acquire` is told: who, which attempt, its priority and age, its lease."""
    queue_ttl_s, execution_timeout_s = limits.of(job)
    return (job.user_id, job.job_id, job.attempt, job.priority, job.created_ms,
            policy.lease_ms(queue_ttl_s, execution_timeout_s))


def acquired(job: JobRecord, attempt: int, answer: dict, now: int) -> Outcome | None:
    """Apply the scheduler's answer to the ask of `attempt`: granted, the job is pending (the caller
    submits it); else its position. None when the job moved on meanwhile (ended, or granted by a push)."""
    if job.status != QUEUED or job.attempt != attempt:
        return None
    job.slot = DONE
    if answer.get("granted"):
        told = job.queue_position is not None  # subscribers were told it waits: they hear it no longer does
        _granted(job, now)
        return Outcome(changed=True, new_status=True, messages=[job.status_message()] if told else [])
    position = answer.get("position")
    return Outcome(changed=True, messages=[] if position is None else place(job, position))


def take(job: JobRecord | None, attempt: int, now: int) -> tuple[str, Outcome | None]:
    """The scheduler's push of a grant to `attempt`: TAKEN (with the change when the job was waiting, the
    caller then submits it) or NOT_WANTED (the job is gone, ended or on another attempt)."""
    if job is None or job.terminal or job.attempt != attempt:
        return NOT_WANTED, None
    if job.status in (PENDING, PROCESSING):
        return TAKEN, None  # taken already (the ask's answer, or an earlier push): never a second submission
    job.slot = DONE
    _granted(job, now)
    return TAKEN, Outcome(changed=True, new_status=True, messages=[job.status_message()])


def place(job: JobRecord, position: int) -> list[dict]:
    """Store a queued job's new position; the WebSocket message saying so (none when it did not change)."""
    if job.status != QUEUED or job.queue_position == position:
        return []
    job.queue_position = position
    return [{"type": "queued", "job_id": job.job_id, "position": position}]


def _granted(job: JobRecord, now: int) -> None:
    job.status, job.queue_position = PENDING, None
    job.next_submit_ms = job.updated_ms = now
