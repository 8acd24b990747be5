"""The base of an object with hibernating WebSockets: accepting them under a tag, broadcasting to a
tag's sockets, pings answered by the runtime without waking the object, the close handshake, and
JSON messages read within the body bounds before a subclass sees them."""

from __future__ import annotations

import json
import logging
from typing import Any

from workers import DurableObject, Response

from bindings import websockets
from bounds import parse_json

log = logging.getLogger("reel.sockets")

PING, PONG = '{"type":"ping"}', '{"type":"pong"}'


class SocketObject(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        websockets.auto_response(ctx, PING, PONG)

    def accept(self, tag: str, first_messages: list[dict]) -> Response:
        """A new socket under `tag` that is sent `first_messages`: the 101 answer to an upgrade. One
        synchronous step: no broadcast can come between the socket joining its tag and these messages."""
        client, server = websockets.new_pair()
        websockets.accept(self.ctx, server, tag)
        websockets.send_all([server], [json.dumps(message) for message in first_messages])
        return Response(None, status=101, web_socket=client)

    def send(self, ws: Any, message: dict) -> None:
        websockets.send(ws, json.dumps(message))

    def broadcast(self, tag: str, messages: list[dict]) -> None:
        if not messages:
            return
        # Encoded once and the sockets listed once, whatever their number: with a thousand subscribers
        # a json.dumps per socket and a getWebSockets() per message cost ~15 ms of CPU per callback.
        websockets.send_all(websockets.tagged(self.ctx, tag), [json.dumps(message) for message in messages])

    def on_message(self, ws: Any, tag: str, data: dict) -> None:
        """A JSON object from a socket under `tag` (other than a ping); subclasses answer what they define."""

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
        if not isinstance(data, dict):
            return
        if data.get("type") == "ping":  # a ping the auto-response did not match byte for byte
            websockets.send(ws, PONG)
            return
        tag = websockets.tag_of(self.ctx, ws)
        if tag:
            self.on_message(ws, tag, data)

    async def webSocketClose(self, ws, code, reason, was_clean):  # noqa: N802 - runtime handler name
        # Complete the close handshake, or the browser sees 1006 instead of its own code.
        try:
            ws.close(code if 1000 <= code <= 4999 and code not in (1004, 1005, 1006, 1015) else 1000, reason or "")
        except Exception:  # noqa: S110 - already closed: nothing left to do
            pass

    async def webSocketError(self, ws, error):  # noqa: N802 - runtime handler name
        log.info("websocket error: %s", error)
