"""Claimers parked on one queue until a job is available (`claim?wait_s=`): plain asyncio, no runtime.

A claim that finds nothing parks a `Waiter` (a future) here instead of polling. Whoever may have
made a job available — an enqueue, a requeue, a fail that retries at once, a sweep of expired
leases, the wake-up timer — calls `serve(take)`, which hands jobs to the parked waiters oldest
first: `take` claims for one waiter (in SQL, with leases) and the waiter's future gets the rows.
So the hand-out happens in the event that made the job available, and the waiter's only remaining
step is to answer. A waiter whose deadline passes gets `[]` (the route's 404 `no_jobs`).

Every future is resolved by exactly one of: `serve`, its deadline, or the cancellation of the
coroutine awaiting it (then `serve` skips it). The deadline resolves the future itself rather than
cancelling a task (as `asyncio.wait_for` would): a cancel racing a hand-out could drop rows that were
already claimed for it.

One timer (`wake_at`) serves waiters when the next job becomes available by time alone (a retry's
backoff ends, a lease runs out); it is set by the queue from its rows, never by polling.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


class Full(Exception):  # noqa: N818 - reads as what it is
    """As many claimers wait as may (the route's 503 `too_many_waiters`)."""


@dataclass(eq=False)
class Waiter:
    max_jobs: int
    lease_s: int
    future: asyncio.Future = field(repr=False)
    deadline: asyncio.Handle | None = field(default=None, repr=False)
    in_line: bool = True


class Waiters:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parked: deque[Waiter] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Handle | None = None
        self._timer_due: float | None = None  # loop time

    def __len__(self) -> int:
        return len(self._parked)

    def park(self, max_jobs: int, lease_s: int, wait_s: float) -> Waiter:
        """A new waiter at the back of the line, answered `[]` after `wait_s` unless served first.
        Raises `Full` when `limit` waiters are parked already."""
        if len(self._parked) >= self.limit:
            raise Full
        self._loop = loop = asyncio.get_running_loop()
        waiter = Waiter(max_jobs, lease_s, loop.create_future())
        waiter.deadline = loop.call_later(wait_s, self._expire, waiter)
        self._parked.append(waiter)
        return waiter

    async def wait(self, waiter: Waiter) -> list:
        """The jobs handed to `waiter`, or `[]` once its wait is over."""
        try:
            return await waiter.future
        finally:
            if waiter.deadline is not None:
                waiter.deadline.cancel()
            self._leave(waiter)  # a deadline or a cancellation: not served, still in line

    def serve(self, take: Callable[[int, int], list]) -> int:
        """Hand jobs to parked waiters, oldest first, while `take(max_jobs, lease_s)` finds any; how
        many waiters were served. Stops at the first empty take: nothing is left for the rest."""
        served = 0
        while self._parked:
            waiter = self._parked[0]
            if waiter.future.done():  # its wait ended (cancelled) and it has not left yet
                self._parked.popleft().in_line = False
                continue
            jobs = take(waiter.max_jobs, waiter.lease_s)
            if not jobs:
                break
            self._parked.popleft().in_line = False
            waiter.future.set_result(jobs)
            served += 1
        return served

    def wake_at(self, delay_s: float | None, wake: Callable[[], None]) -> None:
        """Call `wake` after `delay_s` (one timer for the whole line; None: no timer). A timer already
        due at the same moment stands; any other is replaced."""
        if delay_s is None or not self._parked or self._loop is None:
            self._cancel_timer()
            return
        delay_s = max(delay_s, 0.001)
        due = self._loop.time() + delay_s
        if self._timer is not None and self._timer_due is not None and abs(self._timer_due - due) < 0.001:
            return
        self._cancel_timer()
        self._timer_due = due
        # call_later, not call_at: Pyodide's loop refuses a `when` its clock has just passed.
        self._timer = self._loop.call_later(delay_s, self._fire, wake)

    # -- helpers ------------------------------------------------------------------------------
    def _fire(self, wake: Callable[[], None]) -> None:
        self._timer = self._timer_due = None
        wake()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_due = None

    def _expire(self, waiter: Waiter) -> None:
        if not waiter.future.done():
            waiter.future.set_result([])

    def _leave(self, waiter: Waiter) -> None:
        if not waiter.in_line:
            return  # served
        waiter.in_line = False
        self._parked.remove(waiter)
        if not self._parked:
            self._cancel_timer()
