"""EncodeQueue: one Durable Object per queue name (`getByName(name)`), its jobs in SQLite.

The object is a thin RPC shell over `encode_queue.store.QueueStore`: each method is synchronous SQL
with no `await` before its change is made, so calls never interleave. Answers are plain dicts:
`{"job": row}`, `{"jobs": [...], "total": n}`, or `refusals.refusal(code)` for what the queue refuses
(the route answers it by `refusals.HTTP`).

Its alarm puts back jobs whose lease ran out, at the earliest expiry. Every call also sweeps first,
so the alarm only makes the change visible without waiting for the next call. The object does no
outbound I/O, so there is nothing a crash could leave half done: SQLite has it or not.
"""

from __future__ import annotations

import secrets

from workers import DurableObject

from bindings.alarm_time import AlarmTime
from clock import now_ms
from encode_queue.store import QueueStore, Refused
from refusals import refusal


class EncodeQueue(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        # One line per construction, as UserJobs does: how an operator (and the eviction test)
        # sees that an idle queue was evicted and rebuilt from its stored rows.
        print(f"EncodeQueue: object constructed ({ctx.id.toString()})")
        self.store = QueueStore(ctx.storage.sql)
        # Saves a storage call on every claim: a later lease never needs the alarm moved.
        self.alarm_time = AlarmTime(ctx.storage)

    async def enqueue(self, items: list) -> dict:
        return {"jobs": self.store.enqueue([dict(i) for i in items], now_ms())}

    async def claim(self, lease_s: int) -> dict:
        job = self.store.claim(secrets.token_hex(8), lease_s, now_ms())
        if job is None:
            return refusal("no_jobs")
        await self._expect_expiry(job["lease_expires_at"] * 1000)
        return {"job": job}

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

    def list_jobs(self, status: str, limit: int, offset: int) -> dict:
        jobs, total = self.store.page(status, limit, offset, now_ms())
        return {"jobs": jobs, "total": total}

    def stats(self) -> dict:
        return self.store.stats(now_ms())

    async def alarm(self, alarm_info=None):
        self.alarm_time.fired()
        returned = self.store.sweep(now_ms())
        if returned:
            print(f"EncodeQueue: alarm put back {returned} job(s) whose lease expired")
        due = self.store.next_expiry_ms()
        if due is not None:
            await self.alarm_time.set(due)

    # -- helpers ------------------------------------------------------------------------------
    def _answer(self, change) -> dict:
        try:
            return {"job": change(now_ms())}
        except Refused as refused:
            return refusal(refused.code)

    async def _leased(self, change) -> dict:
        answer = self._answer(change)
        if "job" in answer:
            await self._expect_expiry(answer["job"]["lease_expires_at"] * 1000)
        return answer

    async def _expect_expiry(self, due_ms: int) -> None:
        """Make sure the alarm fires no later than a lease's expiry. An alarm that fires early (the
        lease was renewed or finished) finds nothing to sweep and sets itself for the next one."""
        await self.alarm_time.no_later_than(due_ms)
