"""Claimers waiting on the encode queue (encode_queue.waiters) on CPython's asyncio: first come first
served, deadlines, cancelled waiters, the bound, the wake-up timer."""

from __future__ import annotations

import asyncio

import pytest

from encode_queue.waiters import Full, Waiters


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


class Jobs:
    """A stand-in for the queue's claim: hands out numbered jobs while any are left."""

    def __init__(self, count: int = 0) -> None:
        self.left, self.next_id, self.calls = count, 1, []

    def add(self, count: int) -> None:
        self.left += count

    def take(self, max_jobs: int, lease_s: int) -> list[dict]:
        self.calls.append((max_jobs, lease_s))
        n = min(max_jobs, self.left)
        jobs = [{"id": self.next_id + i, "lease_s": lease_s} for i in range(n)]
        self.left -= n
        self.next_id += n
        return jobs


def test_waiters_are_served_first_come_first_served():
    async def main():
        waiters, jobs = Waiters(10), Jobs()
        parked = [waiters.park(1, 60 + i, 5) for i in range(3)]
        tasks = [asyncio.create_task(waiters.wait(w)) for w in parked]
        jobs.add(2)
        assert waiters.serve(jobs.take) == 2
        assert len(waiters) == 1
        first, second = await tasks[0], await tasks[1]
        assert (first, second) == ([{"id": 1, "lease_s": 60}], [{"id": 2, "lease_s": 61}])  # each its own lease
        assert not tasks[2].done()
        jobs.add(1)
        waiters.serve(jobs.take)
        assert await tasks[2] == [{"id": 3, "lease_s": 62}]
        assert len(waiters) == 0
        # The empty take that stopped the first serve was the third waiter's; no one else was asked.
        assert jobs.calls == [(1, 60), (1, 61), (1, 62), (1, 62)]

    run(main())


def test_a_waiter_takes_up_to_its_max_and_serving_stops_when_nothing_is_left():
    async def main():
        waiters, jobs = Waiters(10), Jobs()
        big, small = waiters.park(10, 30, 5), waiters.park(1, 30, 5)
        jobs.add(4)
        assert waiters.serve(jobs.take) == 1
        assert [j["id"] for j in await waiters.wait(big)] == [1, 2, 3, 4]
        assert len(waiters) == 1 and jobs.calls == [(10, 30), (1, 30)]
        small.future.cancel()  # tidy: nothing waits for it
        with pytest.raises(asyncio.CancelledError):
            await waiters.wait(small)

    run(main())


def test_a_deadline_answers_empty_and_leaves_the_line():
    async def main():
        waiters, jobs = Waiters(10), Jobs()
        early, late = waiters.park(1, 60, 0.05), waiters.park(1, 60, 5)
        assert await waiters.wait(early) == []
        assert len(waiters) == 1
        jobs.add(1)
        waiters.serve(jobs.take)
        assert await waiters.wait(late) == [{"id": 1, "lease_s": 60}]

    run(main())


def test_a_cancelled_waiter_is_never_handed_a_job():
    async def main():
        waiters, jobs = Waiters(10), Jobs()
        gone, present = waiters.park(1, 60, 5), waiters.park(1, 60, 5)
        gone_task = asyncio.create_task(waiters.wait(gone))
        present_task = asyncio.create_task(waiters.wait(present))
        await asyncio.sleep(0)  # both are awaiting their futures
        gone_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone_task
        jobs.add(1)
        assert waiters.serve(jobs.take) == 1
        assert await present_task == [{"id": 1, "lease_s": 60}]
        assert jobs.calls == [(1, 60)]  # nothing was taken for the cancelled one

    run(main())


def test_a_cancelled_waiter_not_yet_out_of_line_is_skipped():
    async def main():
        waiters, jobs = Waiters(10), Jobs(1)
        gone, present = waiters.park(1, 60, 5), waiters.park(1, 60, 5)
        gone.future.cancel()  # its coroutine has not run its cleanup yet
        assert waiters.serve(jobs.take) == 1
        assert await waiters.wait(present) == [{"id": 1, "lease_s": 60}]
        with pytest.raises(asyncio.CancelledError):
            await waiters.wait(gone)
        assert len(waiters) == 0

    run(main())


def test_the_line_is_bounded():
    async def main():
        waiters = Waiters(2)
        parked = [waiters.park(1, 60, 5), waiters.park(1, 60, 5)]
        with pytest.raises(Full):
            waiters.park(1, 60, 5)
        parked[0].future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiters.wait(parked[0])
        waiters.park(1, 60, 5)  # room again once one has left
        assert len(waiters) == 2

    run(main())


def test_the_timer_wakes_at_the_moment_given_and_only_once_per_moment():
    async def main():
        waiters, woken = Waiters(10), asyncio.Event()
        calls = []

        def wake():
            calls.append(asyncio.get_running_loop().time())
            woken.set()

        waiter = waiters.park(1, 60, 5)
        start = asyncio.get_running_loop().time()
        waiters.wake_at(0.05, wake)
        waiters.wake_at(0.05, wake)  # the same moment again: the timer stands
        await woken.wait()
        assert calls and calls[0] - start >= 0.045 and len(calls) == 1
        # A new moment replaces the old one; a line that empties cancels it.
        woken.clear()
        waiters.wake_at(60, wake)  # were this one kept, the wait below would time out
        waiters.wake_at(0.01, wake)
        await asyncio.wait_for(woken.wait(), 30)
        assert len(calls) == 2
        waiters.wake_at(0.02, wake)
        waiter.future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiters.wait(waiter)
        await asyncio.sleep(0.05)  # past the cancelled timer's moment: it must not fire
        assert len(calls) == 2

    run(main())


def test_no_timer_without_waiters():
    async def main():
        waiters, calls = Waiters(10), []
        waiters.wake_at(0.0, lambda: calls.append(1))
        await asyncio.sleep(0.02)
        assert calls == []

    run(main())
