"""ExportJobState: one Durable Object per export job (`idFromName(job_id)`), a thin shell over the
runtime-free lifecycle (jobs/lifecycle.py).

The shell gives the lifecycle its ports — the record in this object's SQLite storage, RunPod over
`workers.fetch`, the user's job index object, this object's WebSockets — and after every call
points the object's one alarm at what the lifecycle says is due next, so that nothing it stored as
owed waits for anything but the alarm (crash safety: jobs/followups.py). It also owns the
WebSockets: the upgrade, pings answered by the runtime without waking a hibernated object, and the
close handshake.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from workers import DurableObject, Response

from bindings import websockets
from bindings.alarm_time import AlarmTime
from bindings.http import request as http_request
from bounds import parse_json
from clock import now_ms
from jobs.lifecycle import JobLifecycle, Ports
from jobs.runpod import RunPodClient
from jobs.store import JobStore
from settings import Settings
from worker_errors import json_error, refusal_error

log = logging.getLogger("reel.export_job")

# Set by the entry point after it authenticated a WebSocket upgrade: the user id, or "*" for a server key.
VERIFIED_USER_HEADER = "x-reel-verified-user"
PING, PONG = '{"type":"ping"}', '{"type":"pong"}'


class ExportJobState(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        # One line per construction: how an operator (and the eviction test) sees that an object
        # was evicted and rebuilt.
        print(f"ExportJobState: object constructed ({ctx.id.toString()})")
        settings = Settings.from_env(env)  # fixed for the object's life: parsed once
        ports = Ports(
            store=JobStore(ctx.storage.sql),
            runpod=lambda: RunPodClient(settings.runpod_endpoint, settings.secret("RUNPOD_API_KEY"), http_request),
            push_index=lambda entry: env.USER_JOBS.getByName(entry["user_id"]).upsert(entry),
            broadcast=self._broadcast)
        self.job = JobLifecycle(ports, settings)
        self.alarm_time = AlarmTime(ctx.storage)
        # Messages of an RPC call wait until its alarm is set: a socket never hears of a change whose
        # follow-ups a crash could still strand (storage and setAlarm do not open the input gate, so no
        # other event runs in between).
        self._held: list[dict] | None = None
        websockets.auto_response(ctx, PING, PONG)

    # -- RPC from the API routes and callbacks ---------------------------------------------
    async def create(self, spec: dict) -> dict:
        """Create the job, once: a second call returns the existing job (and re-drives it if it lost
        its alarm). Submission to RunPod is the alarm's, right after this returns."""
        job, created = self.job.create(spec)
        if created:
            await self._schedule()  # nobody can be listening yet: nothing to hold
        elif not job.terminal:
            self.alarm_time.forget()  # the storage's word: is the alarm really there?
            if await self.alarm_time.current() is None:
                await self._schedule()
        return {"job": job.status_body(), "index_entry": job.index_entry()}

    # A plain method where nothing is awaited: the runtime calls it just the same, and a coroutine
    # would cost an event-loop round trip on every call (../shared/RUNTIME_FACTS.md).
    def status(self, viewer: str, export_type: str | None = None) -> str | None:
        """The status body as JSON text, which the route hands on as it is (no conversion of an RPC
        result to Python and back); None when `viewer` may not see the job or it is not `export_type`."""
        job = self.job.visible(viewer)
        if job is None or (export_type is not None and job.type != export_type):
            return None
        return json.dumps(job.status_body(), separators=(",", ":"))

    async def cancel(self, viewer: str) -> dict:
        return await self._change(lambda: self.job.cancel(viewer))

    async def callback(self, body: dict) -> dict:
        return await self._change(lambda: self.job.callback(body))

    # -- the alarm ------------------------------------------------------------------------------
    async def alarm(self, alarm_info=None):
        self.alarm_time.forget()  # the alarm that fired is spent
        await self.job.run_due()
        await self._schedule()

    async def _schedule(self) -> None:
        """Point the object's one alarm at the earliest thing due, or clear it (a no-op when unchanged)."""
        await self.alarm_time.set(self.job.next_alarm_ms())

    async def _change(self, call: Callable[[], dict]) -> dict:
        """Run a lifecycle call, set the alarm, and only then send the messages it broadcast: a failed
        setAlarm tells nobody."""
        self._held = []
        try:
            answer = call()
            await self._schedule()
            held = self._held
        finally:
            self._held = None
        self._send(held)
        return answer

    # -- WebSockets -----------------------------------------------------------------------------
    async def fetch(self, request):
        if (request.headers.get("upgrade") or "").lower() != "websocket":
            return json_error(426, "upgrade_required", "Expected a WebSocket upgrade")
        job = self.job.visible(request.headers.get(VERIFIED_USER_HEADER) or "")
        if job is None:
            return refusal_error("not_found")
        client, server = websockets.new_pair()
        self.ctx.acceptWebSocket(server)
        server.serializeAttachment(json.dumps({"job_id": job.job_id, "connected_ms": now_ms()}))
        websockets.send(server, json.dumps(job.status_message()))
        return Response(None, status=101, web_socket=client)

    async def webSocketMessage(self, ws, message):  # noqa: N802 - runtime handler name
        # A message the protocol does not define gets no answer (docs/api.md, "WebSocket"). JSON is
        # read within the body bounds, its nesting counted before parsing: a deep one cannot raise
        # RecursionError out of this handler.
        if not isinstance(message, str):
            return
        try:
            data = parse_json(message)
        except ValueError:  # JsonRejected is a ValueError
            return
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "ping":  # a ping the auto-response did not match byte for byte
            websockets.send(ws, PONG)
        elif kind == "status":
            job = self.job.store.load()
            if job is not None:
                websockets.send(ws, json.dumps(job.status_message()))

    async def webSocketClose(self, ws, code, reason, was_clean):  # noqa: N802 - runtime handler name
        # Complete the close handshake, or the browser sees 1006 instead of its own code.
        try:
            ws.close(code if 1000 <= code <= 4999 and code not in (1004, 1005, 1006, 1015) else 1000, reason or "")
        except Exception:  # noqa: S110 - already closed: nothing left to do
            pass

    async def webSocketError(self, ws, error):  # noqa: N802 - runtime handler name
        log.info("websocket error on job socket: %s", error)

    def _broadcast(self, messages: list[dict]) -> None:
        if self._held is not None:
            self._held.extend(messages)
        else:  # the alarm's steps: its own retry covers a crash, and progress is not held back
            self._send(messages)

    def _send(self, messages: list[dict]) -> None:
        if not messages:
            return
        # Encoded once and the sockets listed once, whatever their number: with a thousand subscribers
        # a json.dumps per socket and a getWebSockets() per message cost ~15 ms of CPU per callback.
        websockets.send_all(list(self.ctx.getWebSockets()), [json.dumps(message) for message in messages])
