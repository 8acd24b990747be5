"""WebSocket pairs and their hibernation-facing behaviour, for the stand-in runtime.

`WebSocketPair` gives two connected ends. The *client* end is handed back in
`Response(status=101, web_socket=client)` and the local server binds it to the real browser
connection; the *server* end is what a Durable Object accepts with `ctx.acceptWebSocket`. The
server end belongs to the runtime, not to the object instance, so it survives eviction together
with its attachment, exactly the property hibernation code relies on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from local.ffi import JsException

CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3
MAX_ATTACHMENT_BYTES = 16 * 1024


class LocalWebSocket:
    """One end of a pair. `send` and `close` are synchronous, like the JS API."""

    def __init__(self) -> None:
        self.peer: LocalWebSocket | None = None
        self.readyState = OPEN
        self._attachment: str | None = None
        # Set by whoever consumes this end: the local server for a client end, the DO host for
        # a server end. Messages sent before a consumer exists are buffered.
        self._on_message: Callable[[Any], None] | None = None
        self._on_close: Callable[[int, str], None] | None = None
        self._pending: list[tuple[str, Any]] = []
        self.tags: list[str] = []

    # -- the JS API ---------------------------------------------------------------------------
    def send(self, message: str | bytes) -> None:
        if self.readyState != OPEN:
            raise JsException("TypeError: Can't call WebSocket send() after close().")
        if not isinstance(message, str | bytes | bytearray | memoryview):
            raise JsException(f"TypeError: WebSocket.send() got {type(message).__name__}")
        assert self.peer is not None
        self.peer._deliver("message", message if isinstance(message, str) else bytes(message))

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.readyState == CLOSED:
            return
        if not (1000 <= code <= 4999) or code in (1004, 1005, 1006, 1015):
            raise JsException(f"InvalidAccessError: invalid WebSocket close code {code}")
        self.readyState = CLOSED
        assert self.peer is not None
        self.peer._deliver("close", (code, reason))

    def serializeAttachment(self, value: Any) -> None:
        encoded = json.dumps(value)
        if len(encoded.encode()) > MAX_ATTACHMENT_BYTES:
            raise JsException("Error: serialized WebSocket attachment is larger than 16 KiB")
        self._attachment = encoded

    def deserializeAttachment(self) -> Any:
        return None if self._attachment is None else json.loads(self._attachment)

    # -- runtime side -------------------------------------------------------------------------
    def bind(self, on_message: Callable[[Any], None], on_close: Callable[[int, str], None]) -> None:
        self._on_message, self._on_close = on_message, on_close
        pending, self._pending = self._pending, []
        for kind, payload in pending:
            self._deliver(kind, payload)

    def _deliver(self, kind: str, payload: Any) -> None:
        if self._on_message is None:
            self._pending.append((kind, payload))
            return
        if kind == "message":
            self._on_message(payload)
        else:
            if self.readyState == OPEN:
                self.readyState = CLOSING
            assert self._on_close is not None
            self._on_close(*payload)


class WebSocketPair:
    """`js.WebSocketPair`: `WebSocketPair.new().object_values()` → (client, server)."""

    def __init__(self) -> None:
        self.client = LocalWebSocket()
        self.server = LocalWebSocket()
        self.client.peer, self.server.peer = self.server, self.client

    @classmethod
    def new(cls) -> WebSocketPair:
        return cls()

    def object_values(self) -> tuple[LocalWebSocket, LocalWebSocket]:
        return self.client, self.server


class WebSocketRequestResponsePair:
    """`js.WebSocketRequestResponsePair`: an exact request string and its automatic answer."""

    def __init__(self, request: str, response: str) -> None:
        self.request, self.response = request, response

    @classmethod
    def new(cls, request: str, response: str) -> WebSocketRequestResponsePair:
        return cls(request, response)



