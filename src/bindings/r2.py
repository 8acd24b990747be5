"""R2 through the `USER_DATA` binding, with results as plain Python values.

The binding's methods take keyword options (the SDK turns them into the JS options object) and
return JS-shaped objects; this module turns those into `StoredObject`s and bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredObject:
    size: int
    etag: str
    http_etag: str
    content_type: str | None = None
    body: bytes | None = None


def to_bytes(buffer: Any) -> bytes:
    """An ArrayBuffer proxy (or any buffer) as bytes."""
    if hasattr(buffer, "to_bytes"):
        return buffer.to_bytes()
    return bytes(buffer)


def _plain(value: Any) -> dict:
    if value is None:
        return {}
    if hasattr(value, "to_py"):
        value = value.to_py()
    return {k: v for k, v in dict(value).items() if v is not None}


def _meta(obj: Any, body: bytes | None = None) -> StoredObject:
    http = _plain(getattr(obj, "httpMetadata", None))
    return StoredObject(size=int(obj.size), etag=obj.etag, http_etag=obj.httpEtag,
                        content_type=http.get("contentType"), body=body)


async def get_bytes(bucket: Any, key: str) -> StoredObject | None:
    """The whole object with its body, or None when it does not exist."""
    obj = await bucket.get(key)
    if obj is None:
        return None
    return _meta(obj, to_bytes(await obj.arrayBuffer()))


async def head(bucket: Any, key: str) -> StoredObject | None:
    obj = await bucket.head(key)
    return None if obj is None else _meta(obj)


async def put_bytes(bucket: Any, key: str, data: bytes, *, content_type: str | None = None,
                    if_etag: str | None = None, if_absent: bool = False) -> StoredObject | None:
    """Store `data`. With `if_etag`/`if_absent` it is a compare-and-swap: None means the condition failed."""
    options: dict[str, Any] = {}
    if content_type:
        options["httpMetadata"] = {"contentType": content_type}
    if if_etag is not None:
        options["onlyIf"] = {"etagMatches": if_etag}
    elif if_absent:
        options["onlyIf"] = {"etagDoesNotMatch": "*"}
    obj = await bucket.put(key, data, **options)
    return None if obj is None else _meta(obj)
