"""Long-polls parked in an object: `GET /api/export/status/{id}?wait_s=` waits here for the job's next event.

A parked poll is one asyncio future that the job's next event resolves (`wake`); nothing polls. The object
stays in memory while one waits (an open RPC call), at most `wait_s` (30 s), which is as long as its
client is connected. The number parked at once per object is bounded: beyond it `park` refuses, and the
route answers 503 with Retry-After instead of letting an object's memory grow with its clients.
"""

from __future__ import annotations

import asyncio


class TooManyWaiters(Exception):
    """The object already holds as many parked polls as it allows."""


class Waiters:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_job: dict[str, set[asyncio.Future]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    async def next_event(self, job_id: str, timeout_s: float) -> bool:
        """Wait until the job's next event (True) or `timeout_s` (False). Raises TooManyWaiters when full."""
        if self._count >= self.limit:
            raise TooManyWaiters
        future = asyncio.get_running_loop().create_future()
        parked = self._by_job.setdefault(job_id, set())
        parked.add(future)
        self._count += 1
        try:
            await asyncio.wait_for(future, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            self._count -= 1
            parked.discard(future)
            if not parked and self._by_job.get(job_id) is parked:
                del self._by_job[job_id]

    def wake(self, job_id: str) -> None:
        """The job had an event: every poll parked on it answers."""
        for future in self._by_job.pop(job_id, ()):
            if not future.done():
                future.set_result(None)
