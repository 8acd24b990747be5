"""JobFeed: the part of a user's object that tells subscribers what happens to its jobs, without gaps
(docs/api.md "Live events").

Each event reaches, in one synchronous step (`publish`): the job's hibernating WebSockets, its
server-sent-event streams (durable_objects/event_streams.py) and the long-polls parked on it
(durable_objects/waiters.py). A subscriber that comes back with the seq it saw (`?since=`,
`Last-Event-ID`) is sent what it missed from the event log (jobs/events.py) and joins the live ones in
that same step: the object runs one event at a time, so no event falls between the two or overtakes.

What it costs to be followed: a WebSocket nothing — the runtime keeps it while the object hibernates,
and no Python state is kept per socket, so a job may have thousands; a stream or a parked poll keeps the
object in memory while its client is connected, and both are bounded per object.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from workers import Response

from bindings import incoming, streams
from durable_objects.event_streams import EventStreams
from durable_objects.socket_object import SocketObject
from durable_objects.waiters import Waiters
from jobs import events, sse
from jobs.events import EventLog, InvalidSeq
from jobs.ids import parse_events_path, parse_ws_path
from jobs.model import JobRecord
from refusals import HTTP
from worker_errors import json_error, refusal_error

MAX_WAITERS = 256  # long-polls parked at once in one user's object
STREAMS_FULL_RETRY_S = "5"
_NO_MORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class JobFeed(SocketObject):
    events: EventLog  # set by the subclass once its storage has the table

    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.streams = EventStreams(streams)
        self.waiters = Waiters(MAX_WAITERS)

    def find_job(self, job_id: str) -> JobRecord | None:
        raise NotImplementedError

    def publish(self, job_id: str, messages: list[dict]) -> None:
        """Send a change's events (already numbered and logged) to everything following the job."""
        if not messages:
            return
        self.broadcast(job_id, messages)
        self.streams.send(job_id, messages)
        self.waiters.wake(job_id)

    def _catch_up(self, job: JobRecord, since: int | None) -> list[dict]:
        """A new subscriber's first messages: the job's status, or what it missed after `since`."""
        return [job.status_message()] if since is None else self.events.catch_up(job, since)

    async def next_change(self, job_id: str, after_seq: int | None, wait_s: float) -> None:
        """Return once the job has an event after `after_seq` (default: its seq now), or after `wait_s`.
        Raises waiters.TooManyWaiters when the object holds as many parked polls as it may."""
        job = self.find_job(job_id)
        if job is None:
            return
        after = job.seq if after_seq is None else after_seq
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while job is not None and job.seq <= after:
            left = deadline - loop.time()
            if left <= 0 or not await self.waiters.next_event(job_id, left):
                return
            job = self.find_job(job_id)

    # -- the doors the entry point forwards once it authenticated the user -------------------------
    async def fetch(self, request):
        parts = urlsplit(request.url)
        job_id = parse_ws_path(parts.path)
        if job_id is not None:
            return self._open_socket(request, job_id, parts.query)
        job_id = parse_events_path(parts.path)
        if job_id is not None:
            return self._open_stream(request, job_id, parts.query)
        return refusal_error("not_found")

    def _open_socket(self, request, job_id: str, query: str):
        """`/api/jobs/{id}/ws[?since=]`: a hibernating WebSocket tagged with the job id."""
        if (request.headers.get("upgrade") or "").lower() != "websocket":
            return json_error(426, "upgrade_required", "Expected a WebSocket upgrade")
        job = self.find_job(job_id)
        if job is None:
            return refusal_error("not_found")
        try:
            since = events.since_of(query)
        except InvalidSeq as exc:
            return json_error(422, "validation_error", str(exc), details=exc.details())
        return self.accept(job.job_id, self._catch_up(job, since))

    def _open_stream(self, request, job_id: str, query: str):
        """`/api/export/jobs/{id}/events`: the job's events as server-sent events, ending after the one
        that ends the job. A finished job the client has every event of is a 204, which tells an
        EventSource to stop reconnecting."""
        job = self.find_job(job_id)
        if job is None:
            return refusal_error("not_found")
        try:
            since = events.since_of(query, request.headers.get("last-event-id"))
        except InvalidSeq as exc:
            return json_error(422, "validation_error", str(exc), details=exc.details())
        missed = self._catch_up(job, since)
        if job.terminal and not missed:
            return Response(None, status=204, headers=_NO_MORE)
        if incoming.method(request) == "HEAD":
            return Response(None, status=200, headers=sse.HEADERS)
        if job.terminal:  # everything there will be: a body that ends
            return Response(sse.body(missed), status=200, headers=sse.HEADERS)
        body = self.streams.open(job.job_id, sse.body(missed))
        if body is None:
            return json_error(503, "too_many_streams", HTTP["too_many_streams"][1],
                              {"Retry-After": STREAMS_FULL_RETRY_S, "Cache-Control": "no-store"})
        return Response(body, status=200, headers=sse.HEADERS)

    def on_message(self, ws, tag: str, data: dict) -> None:
        """`{"type": "status"}` from a socket: the job's status message, with its seq."""
        if data.get("type") == "status":
            job = self.find_job(tag)
            if job is not None:
                self.send(ws, job.status_message())
