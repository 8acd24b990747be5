"""What a job still owes the outside world. Pure: no I/O (jobs/deadlines.py says when the alarm runs).

Crash safety rests on one rule: a Durable Object handler never does outbound I/O before the work is
written down. It stores the record with the follow-ups it needs and sets the alarm; the alarm is
the one place that does the outbound work. If the process dies anywhere, the stored record and its
alarm finish the job after a restart.

Each follow-up channel of a job is a `FollowUp`, a value with its own failure count and retry time,
so that a broken channel never delays or exhausts another:
- `cancel`: RunPod must be told to cancel the job's `runpod_id`;
- `index`: the user's job index (UserJobs) has not seen the latest version. A new status is owed at
  once; progress and messages alone within `INDEX_COALESCE_MS`, so a job reporting progress many
  times a second pushes to its index (and runs its alarm) a few times a minute, not once per report.
  The index passes creations and terminal states on to the user's database in R2.
Submission has its own clock on the record (`next_submit_ms`), and every live job runs on two more,
the timeout and the stall watchdog (jobs/deadlines.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from backoff import backoff_ms

SYNC_BACKOFF_BASE_S = 1.0
SYNC_BACKOFF_MAX_S = 300.0
# A channel that failed this often is given up on (logged): its target is gone or refuses for good.
SYNC_MAX_FAILURES = 20
INDEX_COALESCE_MS = 2000


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

    def requested_by(self, due_ms: int) -> FollowUp:
        """Owed by `due_ms`, unless already owed: that time (sooner, or a failure's backoff) stands,
        and the update it sends will carry this change too."""
        return self if self.pending else FollowUp(True, self.failures, due_ms)

    def deferred(self, due_ms: int) -> FollowUp:
        """An owed update goes no sooner than `due_ms`."""
        return FollowUp(self.pending, self.failures, max(self.retry_ms, due_ms))

    def failed(self, now_ms: int) -> FollowUp:
        """After a failed attempt: retried with backoff, or given up (no longer pending) at the limit."""
        failures = self.failures + 1
        if failures >= SYNC_MAX_FAILURES:
            return FollowUp()
        return FollowUp(True, failures, now_ms + backoff_ms(SYNC_BACKOFF_BASE_S, failures, SYNC_BACKOFF_MAX_S))


DONE = FollowUp()
