"""How values cross a Durable Object RPC boundary in workerd (structured clone, as the SDK does it).

str/int/float/bool/None/list pass unchanged; dict arrives as a dict with attribute access; bytes
arrive as memoryview; datetime keeps millisecond precision; tuples and bytearrays raise TypeError;
anything else raises a DataCloneError. Messages over 32 MiB are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from local.ffi import JsException

MAX_RPC_BYTES = 32 * 1024 * 1024


class JsDict(dict):
    """What a dict becomes after crossing RPC: a dict that also allows attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def convert(value: Any, _seen: set[int] | None = None) -> Any:
    seen = _seen if _seen is not None else set()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | bytearray):
        raise TypeError(f"Cannot pass a {type(value).__name__} over RPC; use a list or bytes")
    if isinstance(value, bytes | memoryview):
        return memoryview(bytes(value))
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, list | dict):
        if id(value) in seen:
            raise JsException("DataCloneError: circular structure")
        seen = seen | {id(value)}
        if isinstance(value, list):
            return [convert(v, seen) for v in value]
        out = JsDict()
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("RPC dict keys must be strings")
            out[k] = convert(v, seen)
        return out
    raise JsException(f"DataCloneError: {type(value).__name__} object could not be cloned.")


def size_of(value: Any) -> int:
    """A rough serialized size, enough to enforce the 32 MiB message limit."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | memoryview):
        return len(value)
    if isinstance(value, list):
        return sum(size_of(v) for v in value) + 8
    if isinstance(value, dict):
        return sum(size_of(k) + size_of(v) for k, v in value.items()) + 8
    return 8


def convert_message(args: list[Any]) -> list[Any]:
    converted = [convert(a) for a in args]
    if size_of(converted) > MAX_RPC_BYTES:
        raise JsException("RangeError: RPC message is larger than 32 MiB")
    return converted
