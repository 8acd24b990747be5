"""Response bodies an object writes to over time (server-sent events): a JS TransformStream whose readable
side is the body and whose writer the object keeps; and a response given more headers without
touching its body (a stream passes through as it is).

Writes never wait for the reader: a broadcast is one synchronous step of the object, and a slow or gone
client must not hold it up. A write's promise is given a handler that swallows its rejection (a client
that left), and the writer's backlog is bounded: past MAX_BACKLOG unread chunks the stream counts as
gone, and its subscriber reconnects with `Last-Event-ID` like any other that dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from js import Headers, Object, TextEncoder, TransformStream
from js import Response as JsResponse
from pyodide.ffi import create_proxy, to_js

MAX_BACKLOG = 64  # chunks written and not yet read (each an event or a heartbeat)


@cache
def _encoder() -> Any:
    return TextEncoder.new()


@cache
def _ignore() -> Any:
    """One handler for every rejected write (made once, kept for the isolate's life)."""
    return create_proxy(lambda *_: None)


def open_stream() -> tuple[Any, Any]:
    """(readable, writer): the body of a response, and what writes to it."""
    stream = TransformStream.new()
    return stream.readable, stream.writable.getWriter()


def write(writer: Any, text: str) -> bool:
    """Queue `text` on the stream; False when it is closed or broken (the reader left) or too far behind."""
    try:
        backlog_room = writer.desiredSize  # null once the stream errored (its reader cancelled)
        if backlog_room is None or backlog_room < -MAX_BACKLOG:
            return False
        writer.write(_encoder().encode(text)).catch(_ignore())
        return True
    except Exception:  # a closed writer throws: the stream is gone
        return False


def close(writer: Any) -> None:
    """End the body once what was written is read (never raises)."""
    try:
        writer.close().catch(_ignore())
    except Exception:  # noqa: S110 - already closed or errored: nothing left to end
        pass


def when_closed(writer: Any, callback: Callable[[], None]) -> None:
    """Call `callback` once the stream ends, closed by us or errored by a reader that left."""
    def settled(*_: Any) -> None:
        proxy.destroy()
        callback()

    proxy = create_proxy(settled)
    writer.closed.then(proxy, proxy)


def with_headers(response: Any, extra: dict[str, str]) -> Any:
    """`response` (a workers or JS Response) with `extra` headers set, its body passed on untouched."""
    js_response = getattr(response, "js_object", response)
    headers = Headers.new(js_response.headers)
    for name, value in extra.items():
        headers.set(name, value)
    init = {"status": js_response.status, "statusText": js_response.statusText, "headers": headers}
    return JsResponse.new(js_response.body, to_js(init, dict_converter=Object.fromEntries))
