"""The scheduler's numbers: the limits, a job's rank (priority with aging), a slot's lease, and how
often its alarm pushes. Pure: no I/O.

Aging: a waiting job's rank is `created_ms - priority * priority_step_ms`, fixed when it asks for a
slot, and within a user the lowest rank goes first. A priority-9 job so goes before a priority-0 job
of the same user created less than 9 steps before it, never before one created earlier than that: a
low priority job waits at most 9 steps behind a stream of higher ones, then runs (aging without any
rank ever being recomputed, since every later job ranks from a later time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRIORITY_MIN, PRIORITY_MAX = 0, 9
DEFAULT_PRIORITY = 0  # a start without a priority is the lowest: priority is a user's way to move a job up
# Beyond the job's two deadlines: the job's own watchdog ends it by them and releases its slot, so a
# lease that runs out means the user's object never said so (lost, or failing): the slot is freed anyway.
LEASE_MARGIN_S = 300
OFFER_BACKOFF_BASE_S, OFFER_BACKOFF_MAX_S = 1.0, 60.0  # a grant the user's object did not acknowledge
POSITIONS_EVERY_MS = 1000  # positions are pushed to a user's object at most this often
# ... and, with many users waiting, less often: a round of pushes to N users' objects is followed by a
# pause of N x this, so that positions cost the scheduler at most ~50 calls a second however many wait.
POSITIONS_MS_PER_USER = 20
OFFERS_PER_ALARM = 50  # grants pushed side by side in one round of the alarm


@dataclass(frozen=True)
class Limits:
    per_user: int  # MAX_ACTIVE_PER_USER: one user's jobs submitted to RunPod and not yet terminal
    total: int  # MAX_ACTIVE_TOTAL: everyone's, the endpoint's GPUs
    priority_step_ms: int  # PRIORITY_STEP_S: what one level of priority is worth in waiting time

    @classmethod
    def of_settings(cls, settings: Any) -> Limits:
        return cls(settings.max_active_per_user, settings.max_active_total, int(settings.priority_step_s * 1000))


def rank(created_ms: int, priority: int, step_ms: int) -> int:
    """Lower goes first within a user."""
    return created_ms - max(PRIORITY_MIN, min(PRIORITY_MAX, priority)) * step_ms


def lease_ms(queue_ttl_s: int, execution_timeout_s: int) -> int:
    """How long a slot granted now stays the job's at most: both its deadlines, counted from the grant
    (the attempt began no later), and the margin."""
    return (queue_ttl_s + execution_timeout_s + LEASE_MARGIN_S) * 1000


def positions_pause_ms(users: int) -> int:
    """How long after a round of position pushes to `users` users' objects the next may start."""
    return max(POSITIONS_EVERY_MS, users * POSITIONS_MS_PER_USER)


def object_name(runpod_endpoint: str) -> str:
    """The one scheduler of an endpoint (`SCHEDULER.getByName`): the cap is a property of its GPUs."""
    return runpod_endpoint or "default"
