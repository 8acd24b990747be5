"""An in-memory fake of an R2 bucket binding (`env.USER_DATA`), as `src/bindings/r2.py` uses it.

    bucket = R2Bucket()
    obj = await bucket.put("u/db.sqlite", b"...", onlyIf={"etagDoesNotMatch": "*"})  # None if it exists
    body = await (await bucket.get("u/db.sqlite")).arrayBuffer()

What it models (see ../shared/RUNTIME_FACTS.md, "R2"):
- `get(key, onlyIf=...)`, `head(key)`, `put(key, value, httpMetadata=..., customMetadata=...,
  onlyIf=...)`, `delete(key_or_keys)`, with keyword options as the workers SDK passes them.
- Objects with `.key .size .etag .httpEtag .uploaded .httpMetadata .customMetadata`; the etag is the
  MD5 of the body, as for a single-part upload; `httpEtag` is the etag in quotes.
- A body from `get` is read once, with `await obj.arrayBuffer()`, which gives an `ArrayBuffer` that
  has `to_bytes()` (like Pyodide's proxy of a JS ArrayBuffer; `bytes(...)` of it is not offered).
- `onlyIf={"etagMatches" | "etagDoesNotMatch": etag or "*"}`: when the condition fails, `put` stores
  nothing and returns None (compare-and-swap), and `get` returns the object's metadata without a
  body. Quoted etags in `onlyIf` are a TypeError, as in workerd.
- Concurrency: every call yields to the event loop (`await asyncio.sleep(0)`) where the request and
  the answer would travel, and reads or changes the bucket in one step in between, so concurrent
  callers interleave as they would against R2, and a put's condition check and write are atomic.

What it does not model: persistence, `list`, ranges, streams (`obj.body`, stream values for `put`),
`text()`/`json()`, `onlyIf` on dates, `writeHttpMetadata`, checksums, multipart uploads, key and
metadata limits, and metadata objects as JS proxies (they are plain dicts here, which the binding
code reads through the same `dict(...)` path). Errors are Python exceptions, not JsExceptions.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

CONDITIONS = ("etagMatches", "etagDoesNotMatch")


class ArrayBuffer:
    """What `await obj.arrayBuffer()` gives."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def byteLength(self) -> int:  # noqa: N802 - the JS name
        return len(self._data)

    def to_bytes(self) -> bytes:
        return self._data


class R2Object:
    """An object's metadata: what `head` and `put` return, and `get` when `onlyIf` fails."""

    def __init__(self, key: str, data: bytes, http_metadata: dict[str, Any], custom_metadata: dict[str, str],
                 uploaded: datetime) -> None:
        self.key, self.size = key, len(data)
        self.etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self.httpEtag = f'"{self.etag}"'
        self.uploaded = uploaded
        self.httpMetadata = dict(http_metadata)
        self.customMetadata = dict(custom_metadata)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, size={self.size}, etag={self.etag!r})"


class R2ObjectBody(R2Object):
    """An object with its body (a successful `get`). The body can be read once."""

    def __init__(self, meta: R2Object, data: bytes) -> None:
        super().__init__(meta.key, data, meta.httpMetadata, meta.customMetadata, meta.uploaded)
        self._data = data
        self.bodyUsed = False

    async def arrayBuffer(self) -> ArrayBuffer:  # noqa: N802 - the JS name
        if self.bodyUsed:
            raise TypeError("Body has already been used. It can only be used once.")
        self.bodyUsed = True
        await asyncio.sleep(0)  # the body arrives over the network
        return ArrayBuffer(self._data)


def _condition(only_if: Any) -> tuple[str, str] | None:
    if only_if is None:
        return None
    if not isinstance(only_if, dict) or len(only_if) != 1 or next(iter(only_if)) not in CONDITIONS:
        raise TypeError(f"onlyIf: this fake supports one of {CONDITIONS}, got {only_if!r}")
    name, etag = next(iter(only_if.items()))
    if not isinstance(etag, str):
        raise TypeError(f"onlyIf.{name} must be a string")
    if etag.startswith('"'):
        raise TypeError(f"Conditional ETag should not be wrapped in quotes ({etag}).")
    return name, etag


def _passes(condition: tuple[str, str] | None, current: R2Object | None) -> bool:
    if condition is None:
        return True
    name, etag = condition
    matches = current is not None and etag in ("*", current.etag)
    return matches if name == "etagMatches" else not matches


def _body(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"put: this fake takes str, bytes or None as the value, not {type(value).__name__}")


class R2Bucket:
    """The bucket: objects in a dict, gone with the instance."""

    def __init__(self) -> None:
        self._objects: dict[str, tuple[R2Object, bytes]] = {}

    async def head(self, key: str) -> R2Object | None:
        await asyncio.sleep(0)  # the request travels
        found = self._objects.get(key)
        await asyncio.sleep(0)  # the answer travels
        return None if found is None else found[0]

    async def get(self, key: str, onlyIf: Any = None) -> R2Object | None:  # noqa: N803 - the JS name
        condition = _condition(onlyIf)
        await asyncio.sleep(0)
        found = self._objects.get(key)
        await asyncio.sleep(0)
        if found is None:
            return None
        meta, data = found
        return R2ObjectBody(meta, data) if _passes(condition, meta) else meta

    async def put(self, key: str, value: Any, httpMetadata: Any = None, customMetadata: Any = None,  # noqa: N803
                  onlyIf: Any = None) -> R2Object | None:  # noqa: N803 - the JS names
        if not isinstance(key, str):
            raise TypeError("put: the key must be a string")
        data, condition = _body(value), _condition(onlyIf)
        http = dict(httpMetadata or {})
        custom = dict(customMetadata or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in custom.items()):
            raise TypeError("put: customMetadata must map str to str")
        await asyncio.sleep(0)  # the body is uploaded
        # Checked and written in one step, with no await in between: R2 applies onlyIf atomically.
        current = self._objects.get(key)
        stored = None
        if _passes(condition, None if current is None else current[0]):
            stored = R2Object(key, data, http, custom, datetime.now(UTC))
            self._objects[key] = (stored, data)
        await asyncio.sleep(0)  # the answer travels
        return stored

    async def delete(self, keys: str | list[str]) -> None:
        await asyncio.sleep(0)
        for key in [keys] if isinstance(keys, str) else keys:
            self._objects.pop(key, None)
        await asyncio.sleep(0)
