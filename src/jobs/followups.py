"""What a job still owes the outside world. Pure: no I/O (jobs/deadlines.py says when the alarm runs).

Crash safety rests on one rule: a Durable Object handler never does outbound I/O before the work is
written down. It stores the record with the follow-ups it needs and sets the alarm; the alarm is
the one place that does the outbound work. If the process dies anywhere, the stored record and its
alarm finish the job after a restart.

A follow-up channel of a job is a `FollowUp`, a value with its own failure count and retry time,
so that a broken channel never delays or exhausts another: today one, `cancel` (RunPod must be told
to cancel the job's `runpod_id`). Submission has its own clock on the record (`next_submit_ms`),
and every live job runs on two more, the timeout and the stall watchdog (jobs/deadlines.py). The
user's job list needs no follow-up: it is a query over the same rows as the jobs themselves
(jobs/store.py), so it can never lag behind them.
"""

from __future__ import annotations

from dataclasses import dataclass

from backoff import backoff_ms

SYNC_BACKOFF_BASE_S = 1.0
SYNC_BACKOFF_MAX_S = 300.0
# A channel that failed this often is given up on (logged): its target is gone or refuses for good.
SYNC_MAX_FAILURES = 20


@dataclass(frozen=True)
class FollowUp:
    """One channel's debt. Immutable: every change is a new value, so copies of a record never share one."""

    pending: bool = False
    failures: int = 0
    retry_ms: int = 0

    def due(self, now_ms: int) -> bool:
        return self.pending and self.retry_ms <= now_ms

    def requested(self) -> FollowUp:
        """Owed (again), due at once."""
        return FollowUp(True, self.failures, 0)

    def failed(self, now_ms: int, *, give_up: bool = True) -> FollowUp:
        """After a failed attempt: retried with backoff, or given up (no longer pending) at the limit —
        unless `give_up` is False (a debt only a deadline may end: then the backoff's cap repeats)."""
        failures = self.failures + 1
        if give_up and failures >= SYNC_MAX_FAILURES:
            return FollowUp()
        return FollowUp(True, failures, now_ms + backoff_ms(SYNC_BACKOFF_BASE_S, failures, SYNC_BACKOFF_MAX_S))


DONE = FollowUp()
