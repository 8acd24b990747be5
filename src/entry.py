"""The Worker's entry point.

WebSocket upgrades for `/api/jobs/{id}/ws` go straight to the object of the user who owns the job
(`UserJobs`), because ASGI WebSockets do not hibernate, and so do a job's server-sent events
(`/api/export/jobs/{id}/events`), because the object streams them as they happen and the ASGI bridge
buffers whole answers; everything else runs through the FastAPI app. The Durable Object
classes are imported here because the runtime looks them up on the main module.

A method the Workers SDK cannot represent (anything outside `http.HTTPMethod`, e.g. `QUERY`) is
answered here, since the SDK's request wrapper raises on it; and whatever escapes the handlers is
a JSON 500 with the traceback in the log only, never in the response.
"""

from __future__ import annotations

import logging
import sys
import time
from http import HTTPMethod
from urllib.parse import parse_qs, urlsplit

from workers import WorkerEntrypoint

from app import GET_WITHOUT_HEAD, allowed_methods, app
from app.cors import cors_header_dict
from auth import identity as auth_identity
from bindings import asgi, incoming, streams
from durable_objects.encode_queue import EncodeQueue
from durable_objects.scheduler import Scheduler
from durable_objects.usage_ledger import UsageLedger
from durable_objects.user_jobs import UserJobs
from jobs import events
from jobs.ids import is_job_id, parse_events_path, parse_ws_path
from settings import MissingSecret, Settings
from storage import object_route
from storage.signed_urls import OBJECT_PATH
from worker_errors import json_error, refusal_error

__all__ = ["Default", "EncodeQueue", "Scheduler", "UsageLedger", "UserJobs"]
log = logging.getLogger("reel.entry")

# Once per isolate: which Python really runs this Worker (3.14 on emscripten under workerd).
print(f"reel-ballers-api: Python {sys.version.split()[0]} on {sys.platform}")


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        try:
            return await self._route(request)
        except Exception:
            log.exception("unhandled error in the entry point")
            return json_error(500, "internal_error", "Internal error")

    async def _route(self, request):
        parts = urlsplit(request.url)
        method = incoming.method(request)
        job_id = parse_ws_path(parts.path)
        if job_id is not None:
            return await self._job_websocket(request, job_id, parts.query)
        streamed_job = parse_events_path(parts.path)
        if streamed_job is not None and method in ("GET", "HEAD"):
            return await self._job_events(request, streamed_job, parts.query)
        # The routes answered here carry the CORS headers themselves; the app's own layer adds them to
        # everything else, so they are worked out only on these paths.
        if parts.path.startswith(OBJECT_PATH) and method != "OPTIONS":
            cors = cors_header_dict(self.env, request.headers.get("origin"))
            return await object_route.handle(request, method, self.env, parts.path, parts.query, cors)
        # A method the SDK cannot name, a HEAD where a GET changes state (app.GET_WITHOUT_HEAD), or anything
        # but a preflight on the event streams, which the app does not route (the CORS layer answers OPTIONS).
        if (method not in HTTPMethod.__members__ or (method == "HEAD" and parts.path in GET_WITHOUT_HEAD)
                or (method != "OPTIONS" and streamed_job is not None)):
            cors = cors_header_dict(self.env, request.headers.get("origin"))
            allow = allowed_methods(parts.path)
            if not allow:
                return json_error(404, "not_found", "No such route", cors)
            return json_error(405, "method_not_allowed", "Method not allowed on this route",
                          {**cors, "Allow": ", ".join(allow)})
        return await asgi.serve(app, request, self.env)

    async def _job_websocket(self, request, job_id: str, query: str):
        if (request.headers.get("upgrade") or "").lower() != "websocket":
            return json_error(426, "upgrade_required", "Expected a WebSocket upgrade", {"Upgrade": "websocket"})
        if not is_job_id(job_id):
            return refusal_error("not_found")
        user_id = self._user(request, query)
        if not isinstance(user_id, str):
            return user_id
        try:  # a `since` the object would refuse is refused before the upgrade, as JSON
            events.since_of(query)
        except events.InvalidSeq as exc:
            return json_error(422, "validation_error", str(exc), details=exc.details())
        return await self.env.USER_JOBS.getByName(user_id).fetch(request)

    async def _job_events(self, request, job_id: str, query: str):
        """The job's server-sent events, streamed by the user's object (durable_objects/job_feed.py)."""
        cors = cors_header_dict(self.env, request.headers.get("origin"))
        user_id = self._user(request, query, cors)
        if not isinstance(user_id, str):
            return user_id
        try:
            events.since_of(query, request.headers.get("last-event-id"))
        except events.InvalidSeq as exc:
            return json_error(422, "validation_error", str(exc), cors, details=exc.details())
        if not is_job_id(job_id):
            return json_error(404, "not_found", "Unknown job", cors)
        return streams.with_headers(await self.env.USER_JOBS.getByName(user_id).fetch(request), cors)

    def _user(self, request, query: str, headers: dict[str, str] | None = None):
        """The user a job's WebSocket or event stream acts for, or the error answer. Authenticated before
        the object is touched: a bad token never wakes it. The user's object is the only place the job
        can be found, so reaching it is the authorisation (a server key names the user in X-User-Id, as
        on every user route; `?token=` is there for browsers, which cannot set headers on these)."""
        tokens = parse_qs(query).get("token", [])
        try:
            who = auth_identity.resolve(request.headers.get, Settings.from_env(self.env), time.time(), tokens)
            if who.kind == auth_identity.ANONYMOUS:
                raise auth_identity.AuthError(401, "unauthorized", "Missing credential: pass ?token=<user token>")
            return auth_identity.require_user(who)
        except auth_identity.AuthError as exc:
            challenge = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
            return json_error(exc.status, exc.code, exc.message, {**(headers or {}), **challenge})
        except MissingSecret as exc:
            return json_error(500, "config_error", f"Server misconfigured: secret {exc.name} is not set", headers)
