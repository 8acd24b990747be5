"""`WorkersClient`: a backend's async client for reel-ballers-api (docs/api.md).

    async with WorkersClient("https://api.example", api_key, user_id="alice") as client:
        started = await client.start_export("framing", project_id=1, input_key="working_videos/a.mp4",
                                            params={...})
        async for event in client.watch(started["job_id"]):
            print(event)   # {"type": "progress", "progress": 40, ...} ... {"type": "complete", ...}

It acts for one user with a server API key (`X-API-Key` + `X-User-Id`). `transport` is httpx's
seam: tests and callers may pass any `httpx.AsyncBaseTransport` (used for the API and the storage
URLs alike; the storage URLs never get the API key).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx
import websockets
from websockets.exceptions import InvalidStatus, WebSocketException

from reel_ballers_client.errors import NotFound, TransportError, raise_for_answer
from reel_ballers_client.streams import UploadData, copy, save, upload_body

# A job's terminal statuses, which are also the types of the WebSocket messages that end a job.
TERMINAL_STATUSES = frozenset({"complete", "error", "cancelled", "expired", "timed_out"})


class WorkersClient:
    def __init__(self, base_url: str, api_key: str, user_id: str, *, ws_base_url: str | None = None,
                 timeout_s: float = 30.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self._auth = {"X-API-Key": api_key, "X-User-Id": user_id}
        # Where WebSockets go: the API's own host unless told otherwise (e.g. behind a proxy).
        self.ws_base_url = (ws_base_url or self.base_url).rstrip("/").replace("https://", "wss://", 1).replace(
            "http://", "ws://", 1)
        self._transport = transport  # also the storage URLs' (without the API key's headers)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self._auth, timeout=timeout_s,
                                       transport=transport)

    async def __aenter__(self) -> WorkersClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the API --------------------------------------------------------------------------------
    async def start_export(self, export_type: str, project_id: int, input_key: str, params: dict[str, Any], *,
                           idempotency_key: str | None = None, webhook: str | None = None,
                           webhook_events: list[str] | None = None, queue_ttl_s: int | None = None,
                           execution_timeout_s: int | None = None, priority: int | None = None) -> dict[str, Any]:
        """Start an export; the 202 body: `job_id`, `status` (`queued`, with `queue_position`, when the
        user or the GPU endpoint is at its limit), `websocket_url`, `status_url`, `job`.
        With `idempotency_key`, a retry of the same request answers the same job. With `webhook`, the
        job's events (`webhook_events`: started, progress, retrying, completed; default completed) are
        POSTed there, signed (check them with `verify_webhook`). `queue_ttl_s` and `execution_timeout_s`
        bound how long an attempt may wait for a GPU (then `expired`) and run (then `timed_out`).
        `priority` (0-9, default 0) orders the caller's own queued jobs (docs/api.md "Scheduling")."""
        deadlines = {"queue_ttl_s": queue_ttl_s, "execution_timeout_s": execution_timeout_s, "priority": priority}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body: dict[str, Any] = {"project_id": project_id, "input_key": input_key, "params": params}
        if webhook is not None:
            body["webhook"] = webhook
        if webhook_events is not None:
            body["webhook_events"] = webhook_events
        body.update({k: v for k, v in deadlines.items() if v is not None})
        return await self._call("POST", f"/api/export/{quote(export_type, safe='')}/start", headers=headers, json=body)

    async def get_job_status(self, job_id: str, *, wait_s: int = 0, after_seq: int | None = None) -> dict[str, Any]:
        """The job's status body. With `wait_s` (1–30) a long-poll: answered once the job's `seq` passes
        `after_seq` (default: its seq now, i.e. at its next event), or after `wait_s` with the body as it is."""
        params: dict[str, int] = {"wait_s": wait_s} if wait_s else {}
        if after_seq is not None:
            params["after_seq"] = after_seq
        read_s = self._http.timeout.read  # a long-poll may take wait_s: the read timeout must outlast it
        timeout = httpx.USE_CLIENT_DEFAULT if not wait_s or read_s is None else max(read_s, wait_s + 10)
        return await self._call("GET", f"/api/export/status/{quote(job_id, safe='')}", params=params, timeout=timeout)

    async def list_jobs(self, *, status: str | None = None, export_type: str | None = None, limit: int = 20,
                        cursor: str | None = None) -> dict[str, Any]:
        """One page, newest first: `{"jobs": [...], "next_cursor": str | None}`."""
        params = {k: v for k, v in {"status": status, "type": export_type, "limit": limit, "cursor": cursor}.items()
                  if v is not None}
        return await self._call("GET", "/api/export/jobs", params=params)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/export/jobs/{quote(job_id, safe='')}/cancel")

    async def retry(self, job_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Run an `error`, `timed_out`, `cancelled` or `expired` job again under its id; the 202 body, as a
        start's. The earlier attempts stay in the status's `attempts`. With `idempotency_key`, a repeated
        call retries once."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self._call("POST", f"/api/export/jobs/{quote(job_id, safe='')}/retry", headers=headers)

    # -- storage: what a backend does around a job ----------------------------------------------
    async def upload(self, key: str, data: UploadData, content_type: str, *, content_length: int | None = None,
                     expires_in: int = 3600, chunk_bytes: int = 1 << 20) -> str:
        """Store `data` at the user's relative `key` through an upload URL; the key.

        `data` is bytes; a file opened in binary mode (a disk file, `io.BytesIO`, a pipe, a socket's
        file), read from where it stands to its end; or an iterator or async iterator of bytes. It is
        streamed in `chunk_bytes` pieces. Storage takes no chunked upload, so it goes out with its length:
        `content_length` when given (the data must be exactly that long, else ValueError), or the length
        of bytes or a seekable file. **When the length is unknown** (a pipe or an iterator without
        `content_length`), the data is first read to its end into a spooled temporary file (in memory up
        to 8 MiB, then on disk) to learn it, then sent from there: pass `content_length` to stream it
        straight through. The URL's errors are typed like the API's (e.g. `InvalidRequest` with code
        `content_type_not_allowed`)."""
        grant = await self._call("POST", "/api/storage/upload-url",
                                 json={"key": key, "content_type": content_type, "expires_in": expires_in})
        headers = dict(grant.get("headers") or {})
        content, length = await upload_body(data, content_length, chunk_bytes)
        headers["Content-Length"] = str(length)
        try:
            async with self._storage_client() as raw:
                response = await raw.put(grant["url"], content=content, headers=headers)
        except httpx.TransportError as exc:
            raise TransportError(f"PUT {key}: {type(exc).__name__}") from exc
        raise_for_answer(response)
        return grant["key"]

    async def download_url(self, key: str, *, expires_in: int = 3600) -> str:
        """A short-lived URL that reads the user's `key` (for a browser, or `download`)."""
        return (await self._call("GET", "/api/storage/presigned-url",
                                 params={"key": key, "expires_in": expires_in}))["url"]

    async def download(self, key: str, dest: str | os.PathLike[str] | BinaryIO, *, chunk_bytes: int = 1 << 20) -> int:
        """Stream the user's `key` into `dest`; the number of bytes. A missing object is `NotFound`.

        `dest` is a binary file, or a path: written whole or not at all, through a temporary file of
        this download's own next to it (`<name>.<random>.part`), renamed over the path once complete,
        so two downloads to one path never mix their bytes (the last to finish wins)."""
        url = await self.download_url(key)
        try:
            async with self._storage_client() as raw, raw.stream("GET", url) as response:
                if not response.is_success:
                    await response.aread()
                    raise_for_answer(response)
                if hasattr(dest, "write"):
                    return await copy(response, dest, chunk_bytes)
                return await save(response, dest, chunk_bytes)
        except httpx.TransportError as exc:
            raise TransportError(f"GET {key}: {type(exc).__name__}") from exc

    def _storage_client(self) -> httpx.AsyncClient:
        """For storage URLs: the API key is never sent to them."""
        return httpx.AsyncClient(timeout=self._http.timeout, transport=self._transport)

    async def usage(self, *, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        """This user's GPU usage over the jobs created in [since, until) (ISO 8601; default the last 30
        days): `totals`, `by_type`, `by_status`, each `{"jobs", "gpu_seconds", "cost_usd"}`."""
        params = {k: v for k, v in {"from": since, "to": until}.items() if v is not None}
        return await self._call("GET", "/api/usage", params=params)

    async def deliveries(self, job_id: str) -> list[dict[str, Any]]:
        """The job's webhook deliveries, oldest first, each with its `attempts`."""
        return (await self._call("GET", f"/api/export/jobs/{quote(job_id, safe='')}/deliveries"))["deliveries"]

    async def redeliver(self, job_id: str, delivery_id: str) -> dict[str, Any]:
        """Send a delivery again now (same `webhook-id`, a fresh retry schedule)."""
        return await self._call("POST", f"/api/export/jobs/{quote(job_id, safe='')}/deliveries/"
                                        f"{quote(delivery_id, safe='')}/redeliver")

    async def mint_user_token(self, ttl_s: int = 3600) -> str:
        """A browser token for this client's user, minted by the service (see `tokens.mint_user_token`
        for the same offline, from the secret)."""
        answer = await self._call("POST", "/api/auth/token", json={"user_id": self.user_id, "ttl_s": ttl_s})
        return answer["token"]

    async def mint_queue_token(self, ttl_s: int = 3600) -> str:
        """A queue token (docs/api.md "Queue tokens"): good on the encode queue only, for no user, for
        `ttl_s` seconds (60 to 43200). Hand it to an operator or a script instead of the server API key."""
        answer = await self._call("POST", "/api/auth/queue-token", json={"ttl_s": ttl_s})
        return answer["token"]

    def get_websocket_url(self, job_id: str, token: str | None = None) -> str:
        """The job's WebSocket URL; with a user token, one a browser can open (`?token=`)."""
        url = f"{self.ws_base_url}/api/jobs/{quote(job_id, safe='')}/ws"
        return f"{url}?token={quote(token, safe='')}" if token else url

    # -- live progress --------------------------------------------------------------------------
    async def watch(self, job_id: str, *, reconnects: int = 3, poll_interval_s: float = 2.0,
                    open_timeout_s: float = 10.0) -> AsyncIterator[dict[str, Any]]:
        """The job's events until it ends: the WebSocket's messages (`status`, `queued`, `progress`, `retrying`, then
        one of `complete`, `error`, `cancelled`, `expired`, `timed_out`), each with the job's `seq`. When the
        socket drops, it is opened again with `since=<the last seq>`: the events missed meanwhile come first
        (or a `status` snapshot when the Worker no longer has them all), none twice, the terminal one never
        lost. After `reconnects` failed attempts in a row (0.2 s, 0.4 s, ... apart; an attempt that brings an
        event resets the count) it polls the status every `poll_interval_s` instead, yielding events of the
        same shapes for each newer `seq`, so the caller never sees the difference."""
        failures, last = 0, None
        while failures <= reconnects:
            url = self.get_websocket_url(job_id) + ("" if last is None else f"?since={last}")
            try:
                async with websockets.connect(url, additional_headers=self._auth, open_timeout=open_timeout_s) as socket:
                    async for raw in socket:
                        event = json.loads(raw)
                        if event.get("type") == "pong" or _seen(event, last):
                            continue
                        last, failures = event.get("seq", last), 0
                        yield event
                        if _is_terminal(event):
                            return
            except InvalidStatus as exc:
                if exc.response.status_code == 404:
                    raise NotFound(404, "not_found", "Unknown job") from None
            except (OSError, TimeoutError, WebSocketException):
                pass  # unreachable or dropped: try again, then poll
            failures += 1
            if failures <= reconnects:
                await asyncio.sleep(min(2.0, 0.2 * 2 ** (failures - 1)))
        async for event in self._poll(job_id, poll_interval_s, last):
            yield event

    async def _poll(self, job_id: str, interval_s: float, last_seq: int | None) -> AsyncIterator[dict[str, Any]]:
        last: tuple | None = None
        while True:
            job = await self.get_job_status(job_id)
            event = event_from_status(job)
            # A body with a seq is news exactly when its seq is (a queued job moving in line, or granted, looks
            # the same otherwise); without one (an older Worker), when what it says changed.
            seen = event.get("seq") if "seq" in event else (event["type"], event.get("progress"), event.get("message"))
            if seen != last and not _seen(event, last_seq):
                last, last_seq = seen, event.get("seq", last_seq)
                yield event
            if job["status"] in TERMINAL_STATUSES:
                return
            await asyncio.sleep(interval_s)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise TransportError(f"{method} {path}: {type(exc).__name__}") from exc
        raise_for_answer(response)
        return response.json()


def _seen(event: dict[str, Any], last_seq: int | None) -> bool:
    """Whether an event is one already yielded (its seq is not past the last one's)."""
    seq = event.get("seq")
    return isinstance(seq, int) and last_seq is not None and seq <= last_seq


def _is_terminal(event: dict[str, Any]) -> bool:
    return event.get("type") in TERMINAL_STATUSES or (
        event.get("type") == "status" and event.get("status") in TERMINAL_STATUSES)


def event_from_status(job: dict[str, Any]) -> dict[str, Any]:
    """A status answer as the WebSocket message it stands for (docs/api.md, "WebSocket"), with its `seq`."""
    job_id, status = job["job_id"], job["status"]
    if status == "complete":
        event = {"type": "complete", "job_id": job_id, "output_key": job.get("output_key"),
                 "output_url": job.get("output_url")}
    elif status in ("error", "expired", "timed_out"):
        event = {"type": status, "job_id": job_id, "error": job.get("error")}
    elif status == "cancelled":
        event = {"type": "cancelled", "job_id": job_id}
    elif status == "queued":  # waiting for a slot: its place in line, as the WebSocket's `queued` message says
        event = {"type": "queued", "job_id": job_id, "position": job.get("queue_position")}
    else:
        event = {"type": "progress", "job_id": job_id, "progress": job.get("progress", 0)}
        if job.get("message"):
            event["message"] = job["message"]
    if "seq" in job:
        event["seq"] = job["seq"]
    return event
