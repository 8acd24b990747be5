"""A job's events as server-sent events (`text/event-stream`, the WHATWG HTML "server-sent events" format):
each event is `id: <seq>`, `event: <type>` and its JSON (the WebSocket message) on one `data:` line, so
a browser's EventSource resumes by itself with `Last-Event-ID`. JSON text has no raw newline, so one
`data:` line always holds it."""

from __future__ import annotations

import json

from security_headers import NOSNIFF

RETRY_MS = 2000  # how long an EventSource waits before reconnecting after a drop
HEARTBEAT = ": keep-alive\n\n"  # a comment: no event for the client, bytes on the wire for proxies
OPENING = f"retry: {RETRY_MS}\n\n"
# No caching anywhere, no sniffing, no buffering by a proxy in front (nginx honours X-Accel-Buffering).
HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
           "X-Accel-Buffering": "no", **NOSNIFF}


def frame(message: dict) -> str:
    """One event: its seq as the id, its type as the event name, the message itself as data."""
    data = json.dumps(message, separators=(",", ":"))
    return f"id: {message['seq']}\nevent: {message['type']}\ndata: {data}\n\n"


def body(messages: list[dict]) -> str:
    """What a stream starts with: the reconnect delay, then the events a subscriber missed."""
    return OPENING + "".join(frame(message) for message in messages)
