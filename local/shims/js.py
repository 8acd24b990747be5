"""Stand-in `js` module: the JS globals the project touches (local runtime only)."""

from local.outbound import AbortSignal
from local.websocket_pair import WebSocketPair, WebSocketRequestResponsePair


class Object:
    @staticmethod
    def fromEntries(entries):  # noqa: N802 - JS name
        return dict(entries)


__all__ = ["AbortSignal", "Object", "WebSocketPair", "WebSocketRequestResponsePair"]
