"""Calls between Durable Objects (RPC), with their answers as plain Python."""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    """An RPC result as plain JSON-able Python (dicts arrive as a dict subclass, lists as lists)."""
    if hasattr(value, "to_py"):
        value = value.to_py()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class Remote:
    """An object's stub whose methods answer plain Python: `await Remote(stub).method(*args)`."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)

        async def call(*args: Any) -> Any:
            return plain(await method(*args))

        return call
