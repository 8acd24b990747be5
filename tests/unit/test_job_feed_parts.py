"""What a user's object holds for a job's followers besides WebSockets, on CPython: parked long-polls
(durable_objects/waiters.py) and server-sent-event streams (durable_objects/event_streams.py, its JS side
faked here as bindings/streams.py behaves)."""

from __future__ import annotations

import asyncio

import pytest

from durable_objects.event_streams import EventStreams
from durable_objects.waiters import TooManyWaiters, Waiters
from jobs import sse

# -- long-polls ---------------------------------------------------------------------------------------

async def test_a_parked_poll_answers_at_its_jobs_next_event_only():
    waiters = Waiters(limit=4)
    parked = asyncio.ensure_future(waiters.next_event("a", 5))
    await asyncio.sleep(0)
    waiters.wake("b")
    await asyncio.sleep(0)
    assert not parked.done() and len(waiters) == 1
    waiters.wake("a")
    assert await parked is True and len(waiters) == 0


async def test_a_parked_poll_ends_at_its_wait():
    waiters = Waiters(limit=4)
    assert await waiters.next_event("a", 0.01) is False
    assert len(waiters) == 0 and waiters._by_job == {}


async def test_parked_polls_are_bounded_per_object():
    waiters = Waiters(limit=2)
    parked = [asyncio.ensure_future(waiters.next_event(job, 5)) for job in ("a", "b")]
    await asyncio.sleep(0)
    with pytest.raises(TooManyWaiters):
        await waiters.next_event("c", 5)
    waiters.wake("a")
    waiters.wake("b")
    assert await asyncio.gather(*parked) == [True, True]
    parked = asyncio.ensure_future(waiters.next_event("c", 5))  # room again
    await asyncio.sleep(0)
    waiters.wake("c")
    assert await parked is True


# -- event streams ------------------------------------------------------------------------------------

class Stream:
    def __init__(self) -> None:
        self.text, self.closed, self.gone, self.on_close = "", False, False, None


class FakeStreams:
    """bindings/streams.py's behaviour: writes fail once the reader left; closing settles `when_closed`."""

    def __init__(self) -> None:
        self.opened: list[Stream] = []

    def open_stream(self):
        stream = Stream()
        self.opened.append(stream)
        return stream, stream

    def write(self, writer: Stream, text: str) -> bool:
        if writer.gone or writer.closed:
            return False
        writer.text += text
        return True

    def close(self, writer: Stream) -> None:
        if not writer.closed:
            writer.closed = True
            writer.on_close()

    def when_closed(self, writer: Stream, callback) -> None:
        writer.on_close = callback

    def leave(self, writer: Stream) -> None:
        """The client went away: the runtime cancels the body, which settles `closed`."""
        writer.gone = True
        writer.on_close()


EVENTS = [{"type": "progress", "job_id": "j", "progress": 40, "seq": 5}]
END = [{"type": "complete", "job_id": "j", "output_key": "k", "output_url": "u", "seq": 6}]


async def test_a_stream_starts_with_its_catch_up_then_gets_each_event_and_ends_after_the_last():
    ops = FakeStreams()
    streams = EventStreams(ops)
    body = streams.open("j", sse.body([]))
    other = streams.open("k", sse.body([]))
    assert body is ops.opened[0] and streams.of_job("j") == 1 and len(streams) == 2
    streams.send("j", EVENTS)
    streams.send("j", END)
    assert body.text == sse.body([]) + sse.frame(EVENTS[0]) + sse.frame(END[0]) and body.closed
    assert streams.of_job("j") == 0 and other.text == sse.body([]) and not other.closed


async def test_a_client_that_left_is_forgotten_at_once_and_a_failed_write_drops_its_stream():
    ops = FakeStreams()
    streams = EventStreams(ops)
    first, second, third = (streams.open("j", "") for _ in range(3))
    ops.leave(first)
    assert streams.of_job("j") == 2
    second.gone = True  # left without a word: the next write finds it
    streams.send("j", EVENTS)
    assert streams.of_job("j") == 1 and second.closed and third.text == sse.frame(EVENTS[0])


async def test_streams_are_bounded_per_job_and_per_object():
    streams = EventStreams(FakeStreams(), per_job=2, per_object=3)
    assert streams.open("j", "") and streams.open("j", "")
    assert streams.open("j", "") is None  # the job's are full
    assert streams.open("k", "")
    assert streams.open("l", "") is None  # the object's are full


async def test_a_heartbeat_goes_to_open_streams_and_stops_with_the_last():
    ops = FakeStreams()
    streams = EventStreams(ops, heartbeat_s=0.01)
    body = streams.open("j", "")
    await asyncio.sleep(0.05)
    assert body.text.startswith(sse.HEARTBEAT)
    streams.send("j", END)
    await asyncio.sleep(0.03)
    assert streams._beating.done()  # nothing open: the object is not kept awake for nobody
