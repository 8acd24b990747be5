"""ExportJobState: one Durable Object per export job (`idFromName(job_id)`).

It owns the job's record (in its SQLite storage), takes RPC from the API routes and callbacks from
RunPod, and tells every connected browser what happened over hibernatable WebSockets.

Crash safety (see jobs/followups.py): no handler here does outbound I/O. Each stores the record
with the follow-ups it owes, broadcasts, and sets the alarm before it returns; the alarm runs
`JobFollowUps` (export_followups.py), the one place that talks to RunPod and the user's job index
(which passes records on to the user's database). A process that dies anywhere leaves a stored
record and an alarm that finish the job after a restart.

The record is read from storage once per object life and kept (jobs/store.py); the alarm time last
set is kept too (bindings/alarm_time.py), so a save that leaves it unchanged costs no storage call.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from functools import partial

from workers import DurableObject, Response

from bindings import websockets
from bindings.alarm_time import AlarmTime
from bounds import parse_json
from clock import now_ms
from durable_objects.export_followups import JobFollowUps
from jobs import followups
from jobs.callbacks import InvalidCallback, parse_callback
from jobs.model import CANCELLED, JobRecord
from jobs.state import Outcome, apply, finish
from jobs.store import JobStore
from settings import Settings
from storage import keys
from worker_errors import json_error

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
        self.store = JobStore(ctx.storage.sql)
        # The object's env, vars and secrets included, is fixed for its life: parsed once here.
        self.settings = Settings.from_env(env)
        self.alarm_time = AlarmTime(ctx.storage)
        # Pings are answered by the runtime without waking a hibernated object.
        websockets.auto_response(ctx, PING, PONG)

    # -- RPC from the API routes and callbacks ---------------------------------------------
    async def create(self, spec: dict) -> dict:
        """Create the job, once: a second call returns the existing job (and re-drives it if it lost
        its alarm). Submission to RunPod is the alarm's, right after this returns."""
        job = self.store.load()
        if job is not None:
            self.alarm_time.forget()  # the storage's word: is the alarm really there?
            if not job.terminal and await self.alarm_time.current() is None:
                await self._schedule()
            return {"job": job.status_body(), "index_entry": job.index_entry()}
        t = now_ms()
        job = JobRecord(job_id=spec["job_id"], user_id=spec["user_id"], type=spec["type"],
                        project_id=int(spec["project_id"]), input_key=spec["input_key"],
                        output_key=spec["output_key"], params_json=json.dumps(spec["params"]),
                        base_url=spec["base_url"], created_ms=t, updated_ms=t, last_signal_ms=t,
                        next_submit_ms=t)
        followups.request(job, "index")
        self.store.save(job)
        await self._schedule()
        return {"job": job.status_body(), "index_entry": job.index_entry()}

    async def status(self, viewer: str, export_type: str | None = None) -> str | None:
        """The status body as JSON text, which the route hands on as it is (no conversion of an RPC
        result to Python and back); None when `viewer` may not see the job or it is not `export_type`."""
        job = self._visible(viewer)
        if job is None or (export_type is not None and job.type != export_type):
            return None
        return json.dumps(job.status_body(), separators=(",", ":"))

    async def cancel(self, viewer: str) -> dict:
        job = self._visible(viewer)
        if job is None:
            return {"error": "not_found"}
        if job.terminal:
            return {"error": "already_finished", "job": job.status_body()}
        outcome = finish(job, CANCELLED, now_ms())
        if job.runpod_id:
            followups.request(job, "cancel")
        await self._save_change(job, outcome)
        return {"job": job.status_body(), "index_entry": job.index_entry(), "owner": job.user_id}

    async def callback(self, body: dict) -> dict:
        """Apply a RunPod or GPU-worker report. Returns {"received": ...} or {"error": code, ...}."""
        job = self.store.load()
        if job is None:
            return {"error": "not_found"}
        try:
            update = parse_callback(body)
            if update.output_key is not None:
                try:
                    update = replace(update, output_key=keys.relative_key(job.user_id, update.output_key))
                except keys.InvalidKey as exc:
                    raise InvalidCallback(f"output_key {exc}", "output_key") from None
        except InvalidCallback as exc:
            return {"error": "invalid", "message": str(exc), "field": exc.field}
        outcome = apply(job, update, now_ms())
        # Saved even when nothing visible changed: a sign of life restarts the stall clock.
        await self._save_change(job, outcome)
        answer: dict = {"received": True, "status": job.status, "progress": job.progress}
        if outcome.ignored:
            answer["ignored"] = outcome.ignored
        return answer

    # -- WebSockets ---------------------------------------------------------------------------
    async def fetch(self, request):
        if (request.headers.get("upgrade") or "").lower() != "websocket":
            return json_error(426, "upgrade_required", "Expected a WebSocket upgrade")
        job = self._visible(request.headers.get(VERIFIED_USER_HEADER) or "")
        if job is None:
            return json_error(404, "not_found", "Unknown job")
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
            job = self.store.load()
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
        if not messages:
            return
        # Encoded once and the sockets listed once, whatever their number: with a thousand subscribers
        # a json.dumps per socket and a getWebSockets() per message cost ~15 ms of CPU per callback.
        websockets.send_all(list(self.ctx.getWebSockets()), [json.dumps(message) for message in messages])

    # -- the alarm: the one place that does outbound work ------------------------------------
    async def alarm(self, alarm_info=None):
        self.alarm_time.forget()  # the alarm that fired is spent
        # Its steps save without setting the alarm: it is set once, after all of them.
        steps = JobFollowUps(self.store, self.env, partial(self._save_change, schedule=False))
        await steps.run(self.settings)
        await self._schedule()

    async def _schedule(self) -> None:
        """Point the object's one alarm at the earliest thing due, or clear it."""
        job, settings = self.store.load(), self.settings
        due = None if job is None else followups.next_alarm_ms(
            job, now_ms(), stall_poll_s=settings.stall_poll_s, job_timeout_s=settings.job_timeout_s)
        await self.alarm_time.set(due)

    # -- helpers ------------------------------------------------------------------------------
    def _visible(self, viewer: str) -> JobRecord | None:
        """The job, if `viewer` (a user id, or "*" for a server key acting for nobody) may see it."""
        job = self.store.load()
        if job is None or (viewer != "*" and viewer != job.user_id):
            return None
        return job

    async def _save_change(self, job: JobRecord, outcome: Outcome, *, schedule: bool = True) -> None:
        """Store the change with what it owes (the index: a new status at once, progress within a
        couple of seconds), set the alarm that pays it unless `schedule` is False, and tell the sockets."""
        if outcome.changed:
            if outcome.new_status:
                followups.request(job, "index")
            else:
                followups.request_within(job, "index", now_ms() + followups.INDEX_COALESCE_MS)
        self.store.save(job)
        if schedule:
            await self._schedule()
        self._broadcast(outcome.messages)
