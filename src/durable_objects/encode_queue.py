"""EncodeQueue: one Durable Object per queue name (`getByName(name)`), its jobs in SQLite.

The object is a thin RPC shell over `encode_queue.store.QueueStore`: each method is synchronous SQL
with no `await` before its change is made, so calls never interleave. Answers are plain dicts:
`{"job": row}`, `{"jobs": [...], "total": n}`, or `refusals.refusal(code)` for what the queue refuses
(the route answers it by `refusals.HTTP`).

Its alarm puts back jobs whose lease ran out, at the earliest expiry. Every call also sweeps first,
so the alarm only makes the change visible without waiting for the next call. The object does no
outbound I/O, so there is nothing a crash could leave half done: SQLite has it or not.

Claims that wait (`wait_s`) park on `encode_queue.waiters` and are served, oldest first, by every
event after which a job may be available (`_wake`): an enqueue, a requeue, a fail, any sweep of
expired leases, the alarm, and a timer set for the next moment a job becomes available by time alone
(the earliest `available_ms` of a pending row or lease expiry). The waiters live in memory only: a
held claim is an open request, which keeps the object in memory (it is neither evicted nor
hibernated while one is in flight; it has no WebSockets to hibernate with). A restart or deploy
ends those requests with an error, their clients claim again, and nothing is lost: every hand-out
is a claim in SQLite with a lease. Each waiting claim is billed as the object's wall-clock duration,
which is what its client asked for.
"""

from __future__ import annotations

import secrets

from workers import DurableObject

from bindings.alarm_time import AlarmTime
from clock import now_ms
from encode_queue.store import QueueStore, Refused
from encode_queue.waiters import Full, Waiters
from refusals import refusal
from settings import Settings


class EncodeQueue(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        # One line per construction, as UserJobs does: how an operator (and the eviction test)
        # sees that an idle queue was evicted and rebuilt from its stored rows.
        print(f"EncodeQueue: object constructed ({ctx.id.toString()})")
        settings = Settings.from_env(env)
        self.store = QueueStore(ctx.storage.sql, settings.queue_priority_step_s)
        self.waiters = Waiters(settings.queue_max_waiters)
        # Saves a storage call on every claim: a later lease never needs the alarm moved.
        self.alarm_time = AlarmTime(ctx.storage)

    async def enqueue(self, items: list) -> dict:
        now = now_ms()
        jobs = self.store.enqueue([dict(i) for i in items], now)
        self._wake(now)
        return {"jobs": jobs}

    async def claim(self, lease_s: int, wait_s: int = 0, max_jobs: int = 1) -> dict:
        """`{"jobs": [1..max_jobs rows]}`, waiting up to `wait_s` for the first; or `no_jobs`."""
        now = now_ms()
        # Parked claimers come first (FIFO); any still parked after that means nothing is available.
        jobs = [] if self._wake(now) else self._take(max_jobs, lease_s, now)
        if not jobs and wait_s > 0:
            try:
                waiter = self.waiters.park(max_jobs, lease_s, wait_s)
            except Full:
                return refusal("too_many_waiters", limit=self.waiters.limit)
            self._set_timer(now)
            # Whatever serves this waiter has already claimed its rows (with leases) in SQLite: from
            # here it only answers. If its client has gone, the leases run out and the jobs go back.
            jobs = await self.waiters.wait(waiter)
        if not jobs:
            return refusal("no_jobs")
        await self._expect_expiry(min(job["lease_expires_at"] for job in jobs) * 1000)
        return {"jobs": jobs}

    async def heartbeat(self, job_id: int, lease_id: str | None, lease_s: int | None) -> dict:
        return await self._leased(lambda now: self.store.heartbeat(job_id, lease_id, lease_s, now))

    async def finish(self, job_id: int, lease_id: str | None) -> dict:
        return self._answer(lambda now: self.store.finish(job_id, lease_id, now))

    async def fail(self, job_id: int, lease_id: str | None, error: str, retry_in_s: int | None) -> dict:
        return self._answer(lambda now: self.store.fail(job_id, lease_id, error, retry_in_s, now))

    async def requeue(self, job_id: int) -> dict:
        return self._answer(lambda now: self.store.requeue(job_id, now))

    # Plain methods where nothing is awaited: a coroutine would cost an event-loop round trip per call.
    def get(self, job_id: int) -> dict:
        return self._answer(lambda now: self.store.get(job_id, now))

    def delete(self, job_id: int) -> dict:
        try:
            self.store.delete(job_id)
        except Refused as refused:
            return refusal(refused.code)
        return {"deleted": True}

    # These sweep too: waiting claimers are served first, so what they show is what is left.
    def list_jobs(self, status: str, limit: int, offset: int) -> dict:
        now = now_ms()
        self._wake(now)
        jobs, total = self.store.page(status, limit, offset, now)
        return {"jobs": jobs, "total": total}

    def stats(self) -> dict:
        now = now_ms()
        self._wake(now)
        return {**self.store.stats(now), "waiting": len(self.waiters)}

    async def alarm(self, alarm_info=None):
        self.alarm_time.fired()
        now = now_ms()
        returned = self.store.sweep(now)
        if returned:
            print(f"EncodeQueue: alarm put back {returned} job(s) whose lease expired")
        self._wake(now)
        due = self.store.next_expiry_ms()
        if due is not None:
            await self.alarm_time.set(due)

    # -- helpers ------------------------------------------------------------------------------
    def _answer(self, change) -> dict:
        now = now_ms()
        try:
            answer = {"job": change(now)}
        except Refused as refused:
            answer = refusal(refused.code)
        self._wake(now)  # every change sweeps first: an expired lease may have freed a job
        return answer

    def _take(self, max_jobs: int, lease_s: int, now: int) -> list[dict]:
        return self.store.claim_batch([secrets.token_hex(8) for _ in range(max_jobs)], lease_s, now)

    def _wake(self, now: int) -> bool:
        """Serve parked claimers with what is available now; whether some are still parked (then
        nothing is available, and the timer is set for when something will be)."""
        if not self.waiters:
            return False
        try:
            self.waiters.serve(lambda max_jobs, lease_s: self._take(max_jobs, lease_s, now))
            self._set_timer(now)
        except Exception as exc:  # noqa: BLE001 - the event that woke them (an enqueue...) has succeeded
            # and must say so; the waiters are served by the next event or end at their deadline.
            print(f"EncodeQueue: serving waiting claims failed: {exc!r}")
        return bool(self.waiters)

    def _set_timer(self, now: int) -> None:
        """While claimers wait: wake them when the next job becomes available by time alone (a
        backoff ends or a lease runs out). Computed from the rows, so nothing polls."""
        if not self.waiters:
            self.waiters.wake_at(None, self._on_timer)
            return
        dues = [due for due in (self.store.next_available_ms(now), self.store.next_expiry_ms()) if due is not None]
        self.waiters.wake_at((min(dues) - now) / 1000 if dues else None, self._on_timer)

    def _on_timer(self) -> None:
        self._wake(now_ms())

    async def _leased(self, change) -> dict:
        answer = self._answer(change)
        if "job" in answer:
            await self._expect_expiry(answer["job"]["lease_expires_at"] * 1000)
        return answer

    async def _expect_expiry(self, due_ms: int) -> None:
        """Make sure the alarm fires no later than a lease's expiry. An alarm that fires early (the
        lease was renewed or finished) finds nothing to sweep and sets itself for the next one."""
        await self.alarm_time.no_later_than(due_ms)
