"""One HTTP request through the ASGI app: the Workers request in, the Workers response out.

The Workers SDK's bridge (`workers.asgi.fetch`) runs a whole ASGI lifespan cycle (startup and
shutdown, in a task of its own, with queues) around every request, streams the request body
through a queue chunk by chunk, and runs the app in another task. Each of those is a round trip
through Pyodide's event loop, paid on every request by a Worker whose app declares no lifespan at
all; this bridge calls the app once, directly (docs/benchmarks.md has what it saves).

HEAD is answered wherever GET is (RFC 9110): the app sees a GET and the body is dropped here, so
the answer has the GET's status and headers (Content-Length included) and no body, whichever
route it is. Like the SDK's, it buffers the request body before the app runs and the response body before
answering: the app answers JSON and HTML, and the routes whose bodies are videos (the
Worker-signed object URLs) are served by the entry point as streams instead.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote, urlsplit

from js import Headers, Object
from js import Response as JsResponse
from pyodide.ffi import to_js

from bindings import incoming

_ASGI = {"spec_version": "2.3", "version": "3.0"}
_NO_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})


async def serve(app: Any, request: Any, env: Any) -> Any:
    """Run `app` on `request` (a `workers.Request`) and return the JS `Response`."""
    parts = urlsplit(request.url)
    method = incoming.method(request)
    head = method == "HEAD"
    body = b"" if request.js_object.body is None else bytes(await request.bytes())
    scope = {
        "type": "http", "asgi": _ASGI, "http_version": "1.1", "method": "GET" if head else method,
        "scheme": parts.scheme, "path": unquote(parts.path), "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(), "root_path": "",
        # UTF-8, as the SDK's bridge does: workerd hands over header values as text that may hold any
        # character (bytes that are not UTF-8 arrive as U+FFFD), and latin-1 cannot encode all of them.
        "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
        "env": env,
    }
    answered = asyncio.Event()
    body_sent = False
    start: dict = {}
    chunks: list[bytes] = []

    async def receive() -> dict:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()  # what a server says once the response is out: the client is done
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    await app(scope, receive, send)
    if not start or not answered.is_set():
        raise RuntimeError("the application did not complete a response")
    status = int(start["status"])
    headers = Headers.new()
    for name, value in start.get("headers", []):  # pairs, not a dict: a header may repeat
        headers.append(name.decode("latin-1"), value.decode("latin-1"))
    content = None if head or status in _NO_BODY_STATUSES else to_js(b"".join(chunks))
    return JsResponse.new(content, to_js({"status": status, "headers": headers}, dict_converter=Object.fromEntries))
