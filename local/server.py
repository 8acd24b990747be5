"""The ASGI app the local server runs: every request goes to the Worker's real `Default.fetch`.

Static assets are served first for paths that `[assets].run_worker_first` does not claim, as
Cloudflare does; WebSocket upgrades are handed to the Worker, and a 101 response's client end is
bound to the real browser connection.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import mimetypes
from pathlib import Path
from typing import Any

from local.http_objects import Request, Response
from local.runtime import LocalRuntime
from local.websocket_pair import LocalWebSocket

log = logging.getLogger("local.server")


def _matches(patterns: list[str], path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, p) or path == p.rstrip("/*") for p in patterns)


class LocalServer:
    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.runtime.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    def _url(scope: dict) -> str:
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"127.0.0.1").decode("latin-1")
        scheme = {"ws": "http", "wss": "https"}.get(scope["scheme"], scope["scheme"])
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        return f"{scheme}://{host}{path.decode('latin-1')}" + (f"?{query.decode('latin-1')}" if query else "")

    def _asset(self, path: str) -> Path | None:
        root = self.runtime.config.assets_dir
        if root is None or _matches(self.runtime.config.run_worker_first, path):
            return None
        candidate = (root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(root.resolve()):
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None

    async def _http(self, scope: dict, receive: Any, send: Any) -> None:
        asset = self._asset(scope["path"]) if scope["method"] in ("GET", "HEAD") else None
        if asset is not None:
            ctype = mimetypes.guess_type(asset.name)[0] or "application/octet-stream"
            await self._send(send, Response(asset.read_bytes(), headers={"content-type": ctype}))
            return

        async def body():
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                yield message.get("body", b"")
                if not message.get("more_body"):
                    return

        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        request = Request(self._url(scope), method=scope["method"], headers=headers,
                          body=body() if scope["method"] not in ("GET", "HEAD") else None)
        try:
            response = await self.runtime.fetch(request)
        except Exception:
            # workerd answers an uncaught exception with a bare 500; the details go to the log only.
            log.exception("uncaught exception in the Worker's fetch")
            response = Response("Worker threw exception", status=500)
        await self._send(send, response, head=scope["method"] == "HEAD")

    @staticmethod
    async def _send(send: Any, response: Response, head: bool = False) -> None:
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]})
        if not head:
            async for chunk in response.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _websocket(self, scope: dict, receive: Any, send: Any) -> None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        request = Request(self._url(scope), method="GET", headers=headers)
        try:
            response = await self.runtime.fetch(request)
        except Exception:
            log.exception("uncaught exception in the Worker's fetch (WebSocket upgrade)")
            response = Response("Worker threw exception", status=500)
        client: LocalWebSocket | None = response.web_socket
        if response.status != 101 or client is None:
            await self._refuse(send, response)
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        outgoing: asyncio.Queue = asyncio.Queue()
        client.bind(lambda m: outgoing.put_nowait(("message", m)),
                    lambda code, reason: outgoing.put_nowait(("close", (code, reason))))
        writer = asyncio.ensure_future(self._pump_out(outgoing, send))
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    data = message.get("text")
                    if client.readyState == 1:
                        client.send(data if data is not None else message.get("bytes", b""))
                elif message["type"] == "websocket.disconnect":
                    if client.readyState == 1:
                        code = message.get("code", 1005)
                        client.readyState = 3
                        client.peer._deliver("close", (1005 if code in (1005, 1006) else code,
                                                       message.get("reason", "") or ""))
                    break
        finally:
            await asyncio.sleep(0)
            writer.cancel()

    @staticmethod
    async def _pump_out(outgoing: asyncio.Queue, send: Any) -> None:
        while True:
            kind, payload = await outgoing.get()
            if kind == "message":
                key = "text" if isinstance(payload, str) else "bytes"
                await send({"type": "websocket.send", key: payload})
            else:
                code, reason = payload
                await send({"type": "websocket.close", "code": code, "reason": reason})
                return

    @staticmethod
    async def _refuse(send: Any, response: Response) -> None:
        body = await response.bytes()
        await send({"type": "websocket.http.response.start", "status": response.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]})
        await send({"type": "websocket.http.response.body", "body": body})
