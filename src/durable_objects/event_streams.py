"""The server-sent-event streams an object holds open (`GET /api/export/jobs/{id}/events`): per job, the
writers of the responses it is still sending, written to on every event of the job.

Why the object streams the response itself, and not the API's Worker: the events are produced here, in the
object's one thread, so a writer registered in the same synchronous step as the catch-up it was sent
can neither miss nor reorder an event; any other place would have to poll the object or be told over
RPC per event. The cost: an object with a stream open stays in memory while it is (a hibernating
WebSocket does not), which is what a client connected to it asks for. So:
- a writer leaves as soon as its stream ends: a write failed (the client left), its backlog is full,
  the runtime cancelled the body (`when_closed`), or the job ended (closed after the terminal event);
- a heartbeat comment every HEARTBEAT_S keeps proxies from closing a quiet stream, and is how a client
  that left is found: under `wrangler dev` the runtime did not cancel the body when the client
  disconnected, and the next write was the first to fail (seen: a place freed 18.8 s after its client
  left, with a 20 s heartbeat). So an object is held at most HEARTBEAT_S past its last client; the
  heartbeat runs only while some stream is open;
- streams are bounded per job and per object: `open` answers None beyond them (the route's 503).

The JS side is `ops` (bindings/streams.py in the object; a fake in the unit tests): `open_stream()`,
`write(writer, text) -> bool`, `close(writer)`, `when_closed(writer, callback)`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jobs import sse
from jobs.events import ends_job

HEARTBEAT_S = 15.0  # under the 30–60 s after which proxies drop a silent connection; finds gone clients
MAX_PER_JOB = 100
MAX_PER_OBJECT = 500


class EventStreams:
    def __init__(self, ops: Any, per_job: int = MAX_PER_JOB, per_object: int = MAX_PER_OBJECT,
                 heartbeat_s: float = HEARTBEAT_S) -> None:
        self.ops, self.per_job, self.per_object, self.heartbeat_s = ops, per_job, per_object, heartbeat_s
        self._by_job: dict[str, list[Any]] = {}
        self._beating: asyncio.Task | None = None

    def __len__(self) -> int:
        return sum(len(writers) for writers in self._by_job.values())

    def of_job(self, job_id: str) -> int:
        return len(self._by_job.get(job_id, ()))

    def open(self, job_id: str, first: str) -> Any | None:
        """A new stream of the job's events, `first` (the catch-up) already written: the response body to
        answer with, or None when the job or the object has as many streams as it may."""
        if self.of_job(job_id) >= self.per_job or len(self) >= self.per_object:
            return None
        readable, writer = self.ops.open_stream()
        if not self.ops.write(writer, first):
            return None
        self._by_job.setdefault(job_id, []).append(writer)
        self.ops.when_closed(writer, lambda: self._drop(job_id, writer))
        if self._beating is None or self._beating.done():
            self._beating = asyncio.ensure_future(self._heartbeat())
        return readable

    def send(self, job_id: str, messages: list[dict]) -> None:
        """Write a change's events to the job's streams; after the event that ends the job, end them."""
        writers = self._by_job.get(job_id)
        if not writers or not messages:
            return
        text = "".join(sse.frame(message) for message in messages)
        self._write_all(job_id, text)
        if any(ends_job(message) for message in messages):
            for writer in self._by_job.pop(job_id, ()):
                self.ops.close(writer)

    def _write_all(self, job_id: str, text: str) -> None:
        kept, failed = [], []
        for writer in self._by_job.pop(job_id, ()):
            (kept if self.ops.write(writer, text) else failed).append(writer)
        if kept:
            self._by_job[job_id] = kept
        for writer in failed:  # after the registry is settled: closing calls back into `_drop`
            self.ops.close(writer)

    def _drop(self, job_id: str, writer: Any) -> None:
        writers = self._by_job.get(job_id)
        if writers and writer in writers:
            writers.remove(writer)
            if not writers:
                del self._by_job[job_id]

    async def _heartbeat(self) -> None:
        while self._by_job:
            await asyncio.sleep(self.heartbeat_s)
            for job_id in list(self._by_job):
                self._write_all(job_id, sse.HEARTBEAT)
