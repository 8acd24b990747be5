"""ExportJobState: one Durable Object per export job (`idFromName(job_id)`).

It owns the job's record (in its SQLite storage), submits the job to RunPod, applies callbacks,
watches for stalls, and tells every connected browser what happened. One alarm drives all the
follow-up work: submission retries, the stall watchdog and timeout, and catching the user's job
index and database up when they could not be told at once.

Awaiting outbound I/O lets other events for this object run (workerd's input gates open), so
after every such `await` the record is read again before it is changed.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace

from js import WebSocketPair, WebSocketRequestResponsePair
from workers import DurableObject, Response

from bindings.http import request as http_request
from jobs import runpod
from jobs.callbacks import InvalidCallback, from_runpod_status, parse_callback
from jobs.model import CANCELLED, ERROR, PENDING, PROCESSING, JobRecord
from jobs.state import Outcome, apply, finish, start_processing
from jobs.store import JobStore
from jobs.submission import runpod_input
from settings import Settings
from storage import keys, user_db

log = logging.getLogger("reel.export_job")

# Set by the entry point after it authenticated a WebSocket upgrade: the user id, or "*" for a server key.
VERIFIED_USER_HEADER = "x-reel-verified-user"
PING, PONG = '{"type":"ping"}', '{"type":"pong"}'
SUBMIT_MAX_ATTEMPTS = 8
# The first attempt happens while the client waits for its 202: keep it short, the alarm retries.
INLINE_SUBMIT_TIMEOUT_S = 5.0
RETRY_SUBMIT_TIMEOUT_S = 15.0
SUBMIT_BACKOFF_MAX_S = 300
SYNC_BACKOFF_MAX_S = 300


def now_ms() -> int:
    return int(time.time() * 1000)


def backoff_ms(base_s: float, attempt: int, cap_s: float) -> int:
    return int(min(cap_s, base_s * 2 ** max(0, attempt - 1)) * 1000)


class ExportJobState(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        # One line per construction: how an operator (and the eviction test) sees that an object
        # was evicted and rebuilt.
        print(f"ExportJobState: object constructed ({ctx.id.toString()})")
        self.store = JobStore(ctx.storage.sql)
        # Pings are answered by the runtime without waking a hibernated object.
        ctx.setWebSocketAutoResponse(WebSocketRequestResponsePair.new(PING, PONG))

    # -- RPC from the API routes -------------------------------------------------------------
    async def create(self, spec: dict) -> dict:
        """Create the job (once: a second call returns the existing job) and try to submit it."""
        job = self.store.load()
        if job is not None:
            return job.status_body()
        t = now_ms()
        job = JobRecord(job_id=spec["job_id"], user_id=spec["user_id"], type=spec["type"],
                        project_id=int(spec["project_id"]), input_key=spec["input_key"],
                        output_key=spec["output_key"], params_json=json.dumps(spec["params"]),
                        base_url=spec["base_url"], created_ms=t, updated_ms=t, last_signal_ms=t,
                        userdb_pending=1)
        self.store.save(job)
        await self._index(job)
        await self._submit(INLINE_SUBMIT_TIMEOUT_S)
        job = self.store.load()
        await self._schedule(job)
        return job.status_body()

    async def status(self, viewer: str) -> dict | None:
        job = self._visible(viewer)
        return None if job is None else job.status_body()

    async def cancel(self, viewer: str) -> dict:
        job = self._visible(viewer)
        if job is None:
            return {"error": "not_found"}
        if job.terminal:
            return {"error": "already_finished", "job": job.status_body()}
        outcome = finish(job, CANCELLED, now_ms())
        job.runpod_cancel_pending = 1 if job.runpod_id else 0
        await self._commit(job, outcome)
        await self._cancel_on_runpod()
        job = self.store.load()
        await self._schedule(job)
        return {"job": job.status_body()}

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
        await self._commit(job, outcome)
        await self._schedule(self.store.load())
        answer: dict = {"received": True, "status": job.status, "progress": job.progress}
        if outcome.ignored:
            answer["ignored"] = outcome.ignored
        return answer

    # -- WebSockets ---------------------------------------------------------------------------
    async def fetch(self, request):
        if (request.headers.get("upgrade") or "").lower() != "websocket":
            return Response.json({"error": "Expected a WebSocket upgrade", "code": "upgrade_required"}, status=426)
        job = self._visible(request.headers.get(VERIFIED_USER_HEADER) or "")
        if job is None:
            return Response.json({"error": "Unknown job", "code": "not_found"}, status=404)
        client, server = WebSocketPair.new().object_values()
        self.ctx.acceptWebSocket(server)
        server.serializeAttachment(json.dumps({"job_id": job.job_id, "connected_ms": now_ms()}))
        server.send(json.dumps(job.status_message()))
        return Response(None, status=101, web_socket=client)

    async def webSocketMessage(self, ws, message):  # noqa: N802 - runtime handler name
        if not isinstance(message, str):
            return
        try:
            data = json.loads(message)
        except ValueError:
            return
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "ping":  # a ping the auto-response did not match byte for byte
            self._send(ws, {"type": "pong"})
        elif kind == "status":
            job = self.store.load()
            if job is not None:
                self._send(ws, job.status_message())

    async def webSocketClose(self, ws, code, reason, was_clean):  # noqa: N802 - runtime handler name
        # Complete the close handshake, or the browser sees 1006 instead of its own code.
        try:
            ws.close(code if 1000 <= code <= 4999 and code not in (1004, 1005, 1006, 1015) else 1000, reason or "")
        except Exception:  # noqa: S110 - already closed: nothing left to do
            pass

    async def webSocketError(self, ws, error):  # noqa: N802 - runtime handler name
        log.info("websocket error on job socket: %s", error)

    @staticmethod
    def _send(ws, message: dict) -> None:
        try:
            ws.send(json.dumps(message))
        except Exception:  # noqa: S110 - a closed or broken socket must never break the others
            pass

    def _broadcast(self, messages: list[dict]) -> None:
        for message in messages:
            for ws in self.ctx.getWebSockets():
                self._send(ws, message)

    # -- the alarm: retries, watchdog, catching up ---------------------------------------------
    async def alarm(self, alarm_info=None):
        job = self.store.load()
        if job is None:
            return
        settings = Settings.from_env(self.env)
        t = now_ms()
        if not job.terminal and t - job.created_ms >= settings.job_timeout_s * 1000:
            outcome = finish(job, ERROR, t, error="timed out")
            job.runpod_cancel_pending = 1 if job.runpod_id else 0
            await self._commit(job, outcome)
        elif job.status == PENDING and t >= job.next_submit_ms:
            await self._submit(RETRY_SUBMIT_TIMEOUT_S)
        elif job.status == PROCESSING and t - job.last_signal_ms >= settings.stall_poll_s * 1000:
            await self._poll_runpod()
        job = self.store.load()
        if job.runpod_cancel_pending:
            await self._cancel_on_runpod()
        job = self.store.load()
        if job.index_pending:
            await self._index(job)
        job = self.store.load()
        if job.userdb_pending:
            await self._record_in_user_db(job)
        await self._schedule(self.store.load())

    async def _schedule(self, job: JobRecord) -> None:
        settings = Settings.from_env(self.env)
        t = now_ms()
        due: list[int] = []
        if job.index_pending or job.userdb_pending or job.runpod_cancel_pending:
            due.append(t + backoff_ms(1, job.sync_failures, SYNC_BACKOFF_MAX_S) if job.sync_failures else t)
        if job.status == PENDING:
            due.append(max(job.next_submit_ms, t))
        if not job.terminal:
            due.append(job.created_ms + settings.job_timeout_s * 1000)
        if job.status == PROCESSING:
            due.append(job.last_signal_ms + settings.stall_poll_s * 1000)
        if due:
            await self.ctx.storage.setAlarm(min(due))
        else:
            await self.ctx.storage.deleteAlarm()

    # -- helpers ------------------------------------------------------------------------------
    def _visible(self, viewer: str) -> JobRecord | None:
        """The job, if `viewer` (a user id, or "*" for a server key acting for nobody) may see it."""
        job = self.store.load()
        if job is None or (viewer != "*" and viewer != job.user_id):
            return None
        return job

    async def _commit(self, job: JobRecord, outcome: Outcome) -> None:
        """Persist a change, tell the sockets, and bring the index (and, if terminal, the user DB) along."""
        if outcome.changed and job.terminal:
            job.userdb_pending = 1
        self.store.save(job)
        self._broadcast(outcome.messages)
        if outcome.changed:
            await self._index(self.store.load())

    async def _index(self, job: JobRecord) -> None:
        try:
            await self.env.USER_JOBS.getByName(job.user_id).upsert(job.index_entry())
        except Exception as exc:
            log.warning("job index update for %s failed: %s", job.job_id, str(exc).splitlines()[0][:200])
            job = self.store.load()
            job.index_pending, job.sync_failures = 1, job.sync_failures + 1
            self.store.save(job)
            return
        latest = self.store.load()
        if latest.version == job.version and latest.index_pending:  # nothing changed while we were away
            latest.index_pending = 0
            self.store.save(latest)

    async def _record_in_user_db(self, job: JobRecord) -> None:
        snapshot_version = job.version
        body = {**job.status_body(), "runpod_job_id": job.runpod_id, "output_key": job.output_key}
        try:
            await user_db.record_job(self.env.USER_DATA, job.user_id, body)
        except Exception as exc:
            log.warning("user database update for %s failed: %s", job.job_id, str(exc).splitlines()[0][:200])
            job = self.store.load()
            job.sync_failures += 1
            self.store.save(job)
            return
        latest = self.store.load()
        if latest.version == snapshot_version and latest.status == job.status:
            latest.userdb_pending, latest.sync_failures = 0, 0
            self.store.save(latest)

    async def _submit(self, timeout_s: float) -> None:
        job = self.store.load()
        settings = Settings.from_env(self.env)
        job.submit_attempts += 1
        attempt = job.submit_attempts
        self.store.save(job)
        try:
            payload, webhook = runpod_input(job, settings, time.time())
            client = runpod.RunPodClient(settings.runpod_endpoint, settings.secret("RUNPOD_API_KEY"), http_request)
            result = await client.submit(payload, webhook, timeout_s=timeout_s)
        except Exception as exc:
            retryable = getattr(exc, "retryable", True)
            reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            job = self.store.load()
            if job.status != PENDING:
                return
            t = now_ms()
            if not retryable or attempt >= SUBMIT_MAX_ATTEMPTS:
                await self._commit(job, finish(job, ERROR, t, error=f"Could not submit the job to RunPod: {reason}"))
                return
            base = float(getattr(self.env, "SUBMIT_RETRY_BASE_S", None) or 2)
            job.next_submit_ms = t + backoff_ms(base, attempt, SUBMIT_BACKOFF_MAX_S)
            job.message = "Waiting for the GPU service; retrying"
            job.updated_ms = t
            self.store.save(job)
            return
        job = self.store.load()
        if job.status == CANCELLED and not job.runpod_id:
            job.runpod_id, job.runpod_cancel_pending = result.id, 1  # cancelled while we were submitting
            self.store.save(job)
            return
        if job.terminal:
            return
        was_retrying = job.message == "Waiting for the GPU service; retrying"
        start_processing(job, result.id, now_ms())
        if was_retrying:
            job.message = None
        await self._commit(job, Outcome(changed=True, messages=[job.status_message()]))

    async def _poll_runpod(self) -> None:
        job = self.store.load()
        settings = Settings.from_env(self.env)
        try:
            client = runpod.RunPodClient(settings.runpod_endpoint, settings.secret("RUNPOD_API_KEY"), http_request)
            body = await client.get_status(job.runpod_id)
            update = from_runpod_status(body)
            if update.output_key is not None:
                update = replace(update, output_key=keys.relative_key(job.user_id, update.output_key))
        except Exception as exc:
            log.info("watchdog poll for %s failed: %s", job.job_id, str(exc).splitlines()[0][:200] if str(exc) else exc)
            job = self.store.load()
            job.last_signal_ms = now_ms()  # try again one stall period from now
            self.store.save(job)
            return
        job = self.store.load()
        outcome = apply(job, update, now_ms())
        await self._commit(job, outcome)

    async def _cancel_on_runpod(self) -> None:
        job = self.store.load()
        if not job.runpod_cancel_pending or not job.runpod_id:
            return
        settings = Settings.from_env(self.env)
        try:
            client = runpod.RunPodClient(settings.runpod_endpoint, settings.secret("RUNPOD_API_KEY"), http_request)
            await client.cancel(job.runpod_id)
        except Exception as exc:
            retryable = getattr(exc, "retryable", True)
            job = self.store.load()
            if retryable and job.sync_failures < 10:
                job.sync_failures += 1
                self.store.save(job)
                return
            log.warning("giving up cancelling %s on RunPod: %s", job.job_id, str(exc).splitlines()[0][:200])
        job = self.store.load()
        job.runpod_cancel_pending = 0
        self.store.save(job)
