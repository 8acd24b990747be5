"""Hibernatable WebSockets of a Durable Object: the pair, the runtime's auto-response, sending.

Sending goes through `WebSocket.prototype.send`, looked up once: `ws.send(...)` on each socket
would make Pyodide look the method up and wrap it in a new proxy per socket, per message, which a
broadcast to a thousand sockets pays a thousand times.
"""

from __future__ import annotations

from typing import Any

from js import WebSocket, WebSocketPair, WebSocketRequestResponsePair
from pyodide.ffi import to_js

_send = WebSocket.prototype.send.call  # bound to `send`: _send(ws, text) is ws.send(text)


def new_pair() -> tuple[Any, Any]:
    """(client, server) ends of a new WebSocket pair."""
    client, server = WebSocketPair.new().object_values()
    return client, server


def accept(ctx: Any, server: Any, tag: str) -> None:
    """Hand `server` to the runtime as a hibernatable socket, findable again by `tag`."""
    ctx.acceptWebSocket(server, to_js([tag]))


def tagged(ctx: Any, tag: str) -> list:
    """The object's open sockets accepted with `tag`."""
    return list(ctx.getWebSockets(tag))


def tag_of(ctx: Any, ws: Any) -> str | None:
    """The tag `ws` was accepted with (kept by the runtime across hibernation)."""
    tags = list(ctx.getTags(ws))
    return str(tags[0]) if tags else None


def auto_response(ctx: Any, request: str, response: str) -> None:
    """Let the runtime answer `request`, byte for byte, with `response`, without waking the object."""
    ctx.setWebSocketAutoResponse(WebSocketRequestResponsePair.new(request, response))


def send(ws: Any, text: str) -> None:
    """Send one text frame, unless the socket is closed or broken (never raises)."""
    send_all([ws], [text])


def send_all(sockets: list, texts: list[str]) -> None:
    """Every text to every socket, in order; a closed or broken socket never stops the others."""
    for text in texts:
        for ws in sockets:
            try:
                _send(ws, text)
            except Exception:  # noqa: S112 - skip it and go on with the others
                continue
