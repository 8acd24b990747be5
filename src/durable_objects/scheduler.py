"""Scheduler: one Durable Object per RunPod endpoint (`getByName(scheduling.policy.object_name(endpoint))`)
bounding the jobs submitted to it and not yet terminal, MAX_ACTIVE_PER_USER per user and
MAX_ACTIVE_TOTAL in all; a thin shell over scheduling/ (store: the rules in SQL; pushes: the alarm's
calls to the users' objects). docs/api.md, "Scheduling".

Why one object per endpoint, not shards: the cap is a property of one endpoint's GPUs. Split over K
objects, each would hold cap/K slots, and a slot free in one could not go to a job waiting in
another (GPUs idle while jobs wait), and round robin would be fair within each shard, not between
users (a user's jobs spread over shards would get a turn in each). More endpoints are more objects.

What keeps this one object off the hot path: it sees admissions and releases only, never progress,
status reads, callbacks or WebSockets, which stay in the users' objects. A start under the limits is
one RPC here (`acquire`: a few SQL statements); a job's end is one more (`release`, from its user's
alarm). Grants to waiting jobs and their positions go out from this object's alarm, batched, the
positions at most once a second per user. Its capacity, measured: docs/benchmarks.md.

Crash safety: every change is stored before anything goes out (a grant is stored `offered`, with the
alarm set, then pushed by the alarm until acknowledged); the object does no outbound I/O in
`acquire` and `release`. Slots are leases: one whose user's object never releases it is freed when
its lease runs out (policy.lease_ms, past the job's own deadlines), and logged.
"""

from __future__ import annotations

from workers import DurableObject

from bindings.alarm_time import AlarmTime
from bindings.rpc import Remote
from clock import iso_ms, now_ms
from outbound import first_line
from scheduling import policy
from scheduling.pushes import Pushes
from scheduling.store import SchedulerStore
from settings import Settings


class Scheduler(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        print(f"Scheduler: object constructed ({ctx.id.toString()})")
        self.limits = policy.Limits.of_settings(Settings.from_env(env))
        self.store = SchedulerStore(ctx.storage.sql, self.limits)
        self.alarm_time = AlarmTime(ctx.storage)
        self.pushes = Pushes(self.store, lambda user_id: Remote(env.USER_JOBS.getByName(user_id)), now_ms)

    # -- RPC from the users' objects ---------------------------------------------------------------
    async def acquire(self, user_id: str, job_id: str, attempt: int, priority: int, created_ms: int,
                      lease_ms: int) -> dict:
        """A slot for the job's attempt, or its place in the queue (store.acquire)."""
        attempt = int(attempt)
        rank = policy.rank(int(created_ms), int(priority), self.limits.priority_step_ms)
        answer = self.store.acquire(user_id, job_id, attempt, rank, int(lease_ms), now_ms())
        if answer.get("position") is not None:
            self.pushes.told[(job_id, attempt)] = answer["position"]  # the object stores what it is answered
        await self._schedule()
        return answer

    async def release(self, job_id: str, below: int) -> int:
        """Free the job's slots and waiting rows of the attempts below `below` (idempotent)."""
        freed = self.store.release(job_id, int(below), now_ms())
        await self._schedule()
        return freed

    def snapshot(self) -> dict:
        """What GET /api/scheduler shows."""
        return self.store.snapshot()

    # -- the alarm ----------------------------------------------------------------------------
    async def alarm(self, alarm_info=None):
        self.alarm_time.fired()
        for slot in self.store.expire(now_ms()):
            print(f"Scheduler: lease of job {slot['job_id']} (attempt {slot['attempt']}, user {slot['user_id']}, "
                  f"{slot['state']} since {iso_ms(slot['granted_ms'])}) ran out: its slot is free again")
        for step in (self.pushes.grants, self.pushes.positions):
            try:
                await step()
            except Exception as exc:  # the other step still runs; what is still due brings the alarm back
                print(f"Scheduler: alarm step {step.__name__} failed: {first_line(exc)}")
        await self.alarm_time.set(self.store.next_due())

    async def _schedule(self) -> None:
        """The alarm fires by the earliest thing due; an earlier alarm stands (it sets the right time itself)."""
        due = self.store.next_due()
        if due is not None:
            await self.alarm_time.no_later_than(max(now_ms(), due))
