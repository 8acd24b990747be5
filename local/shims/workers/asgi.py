"""Stand-in `workers.asgi`: run an ASGI app for one request, as the SDK does.

Like the SDK: lifespan startup and shutdown around each request, `scope["env"]` holds the
bindings, `path` is percent-decoded and `raw_path` is not.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote, urlsplit

from local.http_objects import Request, Response


async def _lifespan(app: Any, phase: str, state: dict) -> None:
    sent = False
    outcome: asyncio.Future = asyncio.get_running_loop().create_future()

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": f"lifespan.{phase}"}
        await asyncio.Event().wait()

    async def send(message):
        if not outcome.done():
            outcome.set_result(message)

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state},
                                     receive, send))
    done, _ = await asyncio.wait({task, outcome}, return_when=asyncio.FIRST_COMPLETED)
    if outcome in done and outcome.result()["type"].endswith(".failed"):
        raise RuntimeError(outcome.result().get("message", f"lifespan {phase} failed"))
    task.cancel()


async def fetch(app: Any, req: Request, env: Any, ctx: Any = None) -> Response:
    state: dict = {}
    await _lifespan(app, "startup", state)
    try:
        return await _process(app, req, env, state)
    finally:
        await _lifespan(app, "shutdown", state)


async def _process(app: Any, req: Request, env: Any, state: dict) -> Response:
    parts = urlsplit(req.url)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "http_version": "1.1",
        "method": req.method.value,
        "scheme": parts.scheme,
        "path": unquote(parts.path or "/"),
        "raw_path": (parts.path or "/").encode(),
        "query_string": parts.query.encode(),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in req.headers.items()],
        "env": env,
        "state": dict(state),
    }
    body_iter = req.body.__aiter__()
    finished = False

    async def receive():
        nonlocal finished
        if finished:
            await asyncio.Event().wait()
        try:
            chunk = await body_iter.__anext__()
            return {"type": "http.request", "body": chunk, "more_body": True}
        except StopAsyncIteration:
            finished = True
            return {"type": "http.request", "body": b"", "more_body": False}

    status, headers, chunks = 500, [], []

    async def send(message):
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return Response(b"".join(chunks) or None, status=status, headers=headers)
