"""What the scheduler's alarm tells the users' objects: grants, and positions. Runtime-free: a user's
object is whatever `user_object(user_id)` returns, with `slot_granted` and `queue_positions`.

Grants. A slot freed for a waiting job is stored `offered` (store.dispatch) with the alarm set before
anything goes out; the alarm pushes it (`slot_granted(job_id, attempt)`) until the user's object
answers: TAKEN (the job is pending now, and submitted) or anything else (the job was cancelled, ended
or is gone: the slot is freed at once and given to the next). A failed push is retried with backoff
(1 s doubling to 60 s) for as long as the lease lasts. Both sides are idempotent: a second push for a
job already pending is TAKEN again without a second submission.

Positions. Every waiting job's position (turns.py) is pushed to its user's object when it changed,
all of a user's changes in one call, only from the alarm (so one push at most is in flight per user),
in rounds at most one a second, or one per POSITIONS_MS_PER_USER per user pushed when many wait
(policy.positions_pause_ms): a grant moves everyone's place, and 1000 users waiting must not turn
into 1000 calls a second. What each object was told is kept in memory only:
an object rebuilt after eviction tells everyone once more, and the users' objects ignore a position
they already have.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from outbound import first_line
from scheduling import policy
from scheduling.store import SchedulerStore

log = logging.getLogger("reel.scheduler")
TAKEN = "taken"
_ROUNDS = 10  # rounds of grants per alarm: a refused grant frees its slot for the next waiting job


class Pushes:
    def __init__(self, store: SchedulerStore, user_object: Callable[[str], Any], clock: Callable[[], int]) -> None:
        self.store, self.user_object, self.clock = store, user_object, clock
        self.told: dict[tuple[str, int], int] = {}  # (job id, attempt) -> the position its user's object has

    async def grants(self) -> None:
        for _ in range(_ROUNDS):
            due = self.store.offers_due(self.clock(), policy.OFFERS_PER_ALARM)
            if not due:
                return
            answers = await asyncio.gather(*(self.user_object(o["user_id"]).slot_granted(o["job_id"], o["attempt"])
                                             for o in due), return_exceptions=True)
            now = self.clock()
            for offer, answer in zip(due, answers, strict=True):
                job_id, attempt = offer["job_id"], int(offer["attempt"])
                if isinstance(answer, BaseException):
                    log.warning("grant of a slot to job %s (attempt %d) not delivered: %s", job_id, attempt,
                                first_line(answer))
                    self.store.offer_failed(job_id, attempt, now)
                elif answer == TAKEN:
                    self.store.taken(job_id, attempt)
                else:
                    self.store.refused(job_id, attempt, now)

    async def positions(self) -> None:
        now = self.clock()
        if not self.store.positions_due(now):
            return
        current = self.store.positions()
        self.told = {key: told for key, told in self.told.items() if key in current}
        changed: dict[str, list[list]] = {}
        for (job_id, attempt), (user_id, position) in current.items():
            if self.told.get((job_id, attempt)) != position:
                changed.setdefault(user_id, []).append([job_id, attempt, position])
        users = list(changed)
        self.store.positions_pushed(now, len(users))  # a change while the pushes are out makes them due again
        answers = await asyncio.gather(*(self.user_object(user).queue_positions(changed[user]) for user in users),
                                       return_exceptions=True)
        failed = False
        for user, answer in zip(users, answers, strict=True):
            if isinstance(answer, BaseException):
                log.warning("queue positions of %s not delivered: %s", user, first_line(answer))
                failed = True
                continue
            for job_id, attempt, position in changed[user]:
                self.told[(job_id, attempt)] = position
        if failed:
            self.store.positions_pushed(self.clock(), len(users), again=True)
