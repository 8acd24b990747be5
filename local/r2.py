"""`env.USER_DATA`: an R2 bucket binding kept on disk, shaped as Python Worker code sees it.

Calls look like the workers SDK wrapper's: keyword arguments are the JS options object
(`put(key, data, httpMetadata={...}, onlyIf={...})`), results are JS-like objects with camelCase
attributes. Where code could tell the difference, behaviour follows workerd and the R2 gateway (as
miniflare reproduces it): a failed `onlyIf` makes `put` return None and `get` return an object with
no body, quoted etags in an `onlyIf` dict are a TypeError, a body can be read once, list pages are
ordered by the keys' UTF-8 bytes and continue through opaque cursors.

On disk under `root`: `index.sqlite` (one row per key: metadata and the version naming its body),
`blobs/<version>` (bodies) and `tmp/` (bodies being written). Keys are never file names, so every
key is safe. A put streams its body into `tmp/`, then in one synchronous step (no await, inside an
IMMEDIATE transaction) checks `onlyIf`, moves the file into `blobs/` and commits the row. That step is
atomic against the event loop's other coroutines (and, through SQLite's write lock, against other
processes), which is what makes compare-and-swap on the etag sound.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hashlib
import json
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.ffi import JsBuffer, JsException

MAX_KEY_BYTES = 1024
MAX_LIST = 1000
MAX_CUSTOM_METADATA_BYTES = 2048
CHUNK = 64 * 1024
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# R2 httpMetadata fields and the response headers `writeHttpMetadata` sets from them.
HTTP_HEADERS = {"contentType": "Content-Type", "contentLanguage": "Content-Language",
                "contentDisposition": "Content-Disposition", "contentEncoding": "Content-Encoding",
                "cacheControl": "Cache-Control", "cacheExpiry": "Expires"}
BODY_USED = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice."
_COLUMNS = "key, version, size, etag, uploaded_ms, http, custom"


class R2Error(JsException, ValueError):
    """An error thrown by the binding. In Pyodide it reaches Python as a JsException; it is also a
    ValueError so plain-Python callers can catch it without knowing about JS."""

    name = "Error"


class JsTypeError(JsException, TypeError):
    """A JS TypeError (bad argument types, body already used), as a JsException that is a TypeError."""

    name = "TypeError"


class JsArrayBuffer(JsBuffer):
    """What `await obj.arrayBuffer()` gives: `to_bytes()`, `to_py()`, `bytes(x)`, `len(x)`."""


class JsRecord:
    """A plain JS object seen from Python: `r.contentType`, `r["contentType"]`, `r.get(...)`, `r.to_py()`."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__["_values"] = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def to_py(self) -> dict[str, Any]:
        return dict(self._values)

    def __repr__(self) -> str:
        return f"JsRecord({self._values!r})"


class R2Checksums:
    """`obj.checksums`: like workerd, `.md5` is an ArrayBuffer of the digest; `toJSON()` gives hex."""

    def __init__(self, md5_hex: str) -> None:
        self._md5 = md5_hex

    @property
    def md5(self) -> JsArrayBuffer:
        return JsArrayBuffer(bytes.fromhex(self._md5))

    def toJSON(self) -> JsRecord:  # noqa: N802 - JS name
        return JsRecord({"md5": self._md5})


def _ms(value: datetime) -> int:
    """A datetime as epoch milliseconds (JS Date precision); a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // timedelta(milliseconds=1)


def _date(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


class R2Object:
    """Metadata of a stored object (what `head`, `put`, `list` and a failed conditional `get` return)."""

    def __init__(self, meta: dict[str, Any], *, with_http: bool = True, with_custom: bool = True) -> None:
        self.key: str = meta["key"]
        self.version: str = meta["version"]
        self.size: int = meta["size"]
        self.etag: str = meta["etag"]
        self.httpEtag = f'"{self.etag}"'
        self.uploaded = _date(meta["uploaded_ms"])
        http = {k: _date(v) if k == "cacheExpiry" else v for k, v in meta["http"].items()}
        # `list` leaves metadata out unless asked via `include` (workerd's r2_list_honor_include).
        self.httpMetadata = JsRecord(http) if with_http else None
        self.customMetadata = JsRecord(meta["custom"]) if with_custom else None
        self.checksums = R2Checksums(self.etag)
        self.storageClass = "Standard"
        self.range: JsRecord | None = None

    def writeHttpMetadata(self, headers: Any) -> None:  # noqa: N802 - JS name
        if self.httpMetadata is None:
            raise JsTypeError(f"HTTP metadata unknown for key `{self.key}`. "
                              "Did you forget to add 'httpMetadata' to `include` when listing?")
        for field, header in HTTP_HEADERS.items():
            value = self.httpMetadata.get(field)
            if value is None:
                continue
            if field == "cacheExpiry":
                value = email.utils.format_datetime(value, usegmt=True)
            setter = getattr(headers, "set", None)
            if callable(setter):
                setter(header, value)
            else:
                headers[header] = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, size={self.size}, etag={self.etag!r})"


class _BodyStream:
    """The body as an async iterator of byte chunks (what `Response` accepts). One reader, once.

    It reads from a descriptor opened when `get` ran, so an overwrite or delete that unlinks the blob
    meanwhile does not change what this reader sees (a consistent snapshot, as with R2)."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self._fd: int | None = fd
        self._pos, self._left = offset, length
        self.used = False

    def __aiter__(self) -> _BodyStream:
        if self.used:
            raise JsTypeError(BODY_USED)
        return self

    async def __anext__(self) -> bytes:
        self.used = True
        data = os.pread(self._fd, min(CHUNK, self._left), self._pos) if self._fd is not None and self._left > 0 else b""
        if not data:
            self.close()
            raise StopAsyncIteration
        self._pos += len(data)
        self._left -= len(data)
        await asyncio.sleep(0)  # a real stream yields between chunks; let other coroutines run
        return data

    async def read_all(self) -> bytes:
        if self.used:
            raise JsTypeError(BODY_USED)
        return b"".join([chunk async for chunk in self])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


class R2ObjectBody(R2Object):
    """An object with its body (a successful `get`)."""

    def __init__(self, meta: dict[str, Any], stream: _BodyStream) -> None:
        super().__init__(meta)
        self._stream = stream

    @property
    def body(self) -> _BodyStream:
        return self._stream

    @property
    def bodyUsed(self) -> bool:  # noqa: N802 - JS name
        return self._stream.used

    async def arrayBuffer(self) -> JsArrayBuffer:  # noqa: N802 - JS name
        return JsArrayBuffer(await self._stream.read_all())

    async def bytes(self) -> bytes:
        return await self._stream.read_all()

    async def text(self) -> str:
        return (await self._stream.read_all()).decode("utf-8", errors="replace")  # like TextDecoder

    async def json(self) -> Any:
        return json.loads(await self.text())


@dataclass
class _Cond:
    matches: list[tuple[str, str]] | None = None  # ("strong" | "weak" | "*", etag)
    none_match: list[tuple[str, str]] | None = None
    after: int | None = None  # uploadedAfter, epoch ms
    before: int | None = None  # uploadedBefore, epoch ms
    seconds: bool = False


def _etag_list(raw: str) -> list[tuple[str, str]]:
    """An If-Match / If-None-Match header value: `*` or a list of `"etag"` / `W/"etag"`."""
    tags = []
    for item in (part.strip() for part in raw.split(",")):
        if item == "*":
            return [("*", "")]
        match = re.fullmatch(r'(W/)?"([^"]*)"', item)
        if item and not match:
            raise R2Error(f"Invalid conditional header: {raw!r}")
        if match:
            tags.append(("weak" if match[1] else "strong", match[2]))
    if not tags:
        raise R2Error(f"Invalid ETag in conditional header: {raw!r}")
    return tags


def _conditional(only_if: Any) -> _Cond | None:
    if only_if is None:
        return None
    if isinstance(only_if, JsRecord):
        only_if = only_if.to_py()
    if isinstance(only_if, dict):
        cond = _Cond(seconds=bool(only_if.get("secondsGranularity", False)))
        for field, attr in (("etagMatches", "matches"), ("etagDoesNotMatch", "none_match")):
            value = only_if.get(field)
            if value is None:
                continue
            if not isinstance(value, str):
                raise JsTypeError(f"onlyIf.{field} must be a string")
            if value.startswith('"') and value.endswith('"'):  # workerd refuses httpEtag here
                raise JsTypeError(f"Conditional ETag should not be wrapped in quotes ({value}).")
            setattr(cond, attr, [("*", "")] if value == "*" else [("strong", value)])
        for field, attr in (("uploadedAfter", "after"), ("uploadedBefore", "before")):
            value = only_if.get(field)
            if value is None:
                continue
            if not isinstance(value, datetime):
                raise JsTypeError(f"onlyIf.{field} must be a Date (datetime)")
            setattr(cond, attr, _ms(value))
        return cond
    if callable(getattr(only_if, "get", None)):  # a Headers object: conditional request headers
        cond = _Cond(seconds=True)  # HTTP dates have second precision
        for header, attr in (("if-match", "matches"), ("if-none-match", "none_match")):
            if raw := only_if.get(header):
                setattr(cond, attr, _etag_list(raw))
        for header, attr in (("if-modified-since", "after"), ("if-unmodified-since", "before")):
            if raw := only_if.get(header):
                setattr(cond, attr, _ms(email.utils.parsedate_to_datetime(raw)))
        return cond
    raise JsTypeError("onlyIf must be an R2Conditional dict or a Headers object")


def _passes(cond: _Cond, meta: dict[str, Any] | None) -> bool:
    """The R2 gateway's reading of RFC 7232 §6 (as miniflare reproduces it)."""
    if meta is None:  # nothing stored: only If-Match and If-Modified-Since can fail
        return cond.matches is None and cond.after is None

    def trunc(ms: int) -> int:
        return ms // 1000 * 1000 if cond.seconds else ms

    def includes(tags: list[tuple[str, str]], weak_ok: bool) -> bool:
        return any(kind == "*" or (tag == meta["etag"] and (kind != "weak" or weak_ok)) for kind, tag in tags)

    uploaded = trunc(meta["uploaded_ms"])
    if_match = cond.matches is None or includes(cond.matches, weak_ok=False)
    if_none_match = cond.none_match is None or not includes(cond.none_match, weak_ok=True)
    modified_since = cond.after is None or trunc(cond.after) < uploaded or (cond.none_match is not None and if_none_match)
    unmodified_since = cond.before is None or uploaded < trunc(cond.before) or (cond.matches is not None and if_match)
    return if_match and if_none_match and modified_since and unmodified_since


def _key_bytes(key: Any, action: str) -> bytes:
    if not isinstance(key, str):
        raise JsTypeError(f"{action}: the key must be a string, not {type(key).__name__}")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        encoded = b"\xff" * (MAX_KEY_BYTES + 1)  # lone surrogates: not a valid name
    if len(encoded) > MAX_KEY_BYTES:
        raise R2Error(f"{action}: The specified object name is not valid. (10020)")
    return encoded


def _http_metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, JsRecord):
        value = value.to_py()
    elif not isinstance(value, dict):  # a Headers object, read the way workerd reads request headers
        value = {field: value.get(header) for field, header in HTTP_HEADERS.items()}
        if value["cacheExpiry"]:
            value["cacheExpiry"] = email.utils.parsedate_to_datetime(value["cacheExpiry"])
    out: dict[str, Any] = {}
    for field in HTTP_HEADERS:
        item = value.get(field)
        if item is None:
            continue
        if field == "cacheExpiry":
            if not isinstance(item, datetime):
                raise JsTypeError("httpMetadata.cacheExpiry must be a Date (datetime)")
            out[field] = _ms(item)
        elif isinstance(item, str):
            out[field] = item
        else:
            raise JsTypeError(f"httpMetadata.{field} must be a string")
    return out


def _custom_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, JsRecord):
        value = value.to_py()
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise JsTypeError("customMetadata must be a dict of str to str")
    if sum(len(k.encode()) + len(v.encode()) for k, v in value.items()) > MAX_CUSTOM_METADATA_BYTES:
        raise R2Error("put: Your metadata headers exceed the maximum allowed metadata size. (10012)")
    return dict(value)


def _chunk_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk)
    if hasattr(chunk, "to_bytes"):
        return chunk.to_bytes()
    raise JsTypeError(f"put: a stream chunk must be bytes, not {type(chunk).__name__}")


async def _write_body(path: Path, value: Any) -> tuple[int, str]:
    """Write the put's value to `path` chunk by chunk; return (size, md5 hex)."""
    digest, size = hashlib.md5(usedforsecurity=False), 0  # R2 etags are MD5 of the body
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if hasattr(value, "__aiter__"):  # a stream: never held in memory whole
            async for chunk in value:
                data = _chunk_bytes(chunk)
                digest.update(data)
                size += len(data)
                os.write(fd, data)
        else:
            if value is None:
                data = b""
            elif isinstance(value, str):
                data = value.encode("utf-8")
            else:
                data = _chunk_bytes(value)
            digest.update(data)
            size = len(data)
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)  # no fsync: surviving a process restart is the goal, not power loss
    return size, digest.hexdigest()


def _parse_range(range_: Any) -> tuple[int | None, int | None, int | None]:
    """(offset, length, suffix) from R2Range, type-checked before anything is read."""
    if isinstance(range_, JsRecord):
        range_ = range_.to_py()
    if not isinstance(range_, dict):
        raise JsTypeError("range must be a dict with offset/length or suffix")
    parts = [range_.get(name) for name in ("offset", "length", "suffix")]
    for name, value in zip(("offset", "length", "suffix"), parts, strict=True):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise R2Error(f"get: Invalid range. {name} ({value!r}) must be a non-negative integer.")
    if parts[2] is not None and (parts[0] is not None or parts[1] is not None):
        raise JsTypeError("get: Suffix is incompatible with offset and length.")
    return parts[0], parts[1], parts[2]


def _resolve_range(parsed: tuple[int | None, int | None, int | None], size: int) -> tuple[int, int]:
    """(offset, length) inside an object of `size` bytes; errors where the R2 gateway answers InvalidRange."""
    offset, length, suffix = parsed
    if suffix is not None:
        if suffix == 0:
            raise R2Error("get: The requested range is not satisfiable. (10039)")
        offset, length = size - min(suffix, size), min(suffix, size)
    offset = 0 if offset is None else offset
    length = size - offset if length is None else length
    if offset > size or length <= 0:
        raise R2Error("get: The requested range is not satisfiable. (10039)")
    return offset, min(length, size - offset)


def _prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string starting with `prefix` (None: no bound).
    UTF-8 never contains 0xff, so for a key prefix this is simply the last byte plus one."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1]) if stripped else None


class LocalR2Bucket:
    """An R2 bucket binding whose objects live under `root` and survive restarts."""

    def __init__(self, root: Path, bucket_name: str) -> None:
        self.root, self.bucket_name = Path(root), bucket_name
        self._blobs, self._tmp = self.root / "blobs", self.root / "tmp"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: every transaction below is an explicit BEGIN IMMEDIATE ... COMMIT.
        self._db = sqlite3.connect(self.root / "index.sqlite", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS objects (key BLOB PRIMARY KEY, version TEXT NOT NULL, "
                         "size INTEGER NOT NULL, etag TEXT NOT NULL, uploaded_ms INTEGER NOT NULL, "
                         "http TEXT NOT NULL, custom TEXT NOT NULL) WITHOUT ROWID")
        self._sweep()

    def _sweep(self) -> None:
        """Drop what a crash left behind: bodies never committed and stale temp files (young temp
        files may belong to a put still streaming in another instance)."""
        live = {version for (version,) in self._db.execute("SELECT version FROM objects")}
        for path in self._blobs.iterdir():
            if path.name not in live:
                path.unlink(missing_ok=True)
        for path in self._tmp.iterdir():
            if path.stat().st_mtime < time.time() - 3600:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"LocalR2Bucket({self.bucket_name!r} at {str(self.root)!r})"

    @staticmethod
    def _meta(row: tuple) -> dict[str, Any]:
        return {"key": row[0].decode("utf-8"), "version": row[1], "size": row[2], "etag": row[3],
                "uploaded_ms": row[4], "http": json.loads(row[5]), "custom": json.loads(row[6])}

    def _row(self, key: bytes) -> dict[str, Any] | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM objects WHERE key = ?", (key,)).fetchone()  # noqa: S608
        return None if row is None else self._meta(row)

    async def head(self, key: str) -> R2Object | None:
        encoded = _key_bytes(key, "head")
        await asyncio.sleep(0)  # a binding call is I/O: other coroutines may run first
        meta = self._row(encoded)
        return None if meta is None else R2Object(meta)

    async def get(self, key: str, range: Any = None, onlyIf: Any = None, **_options: Any) -> R2Object | None:  # noqa: N803 - JS names
        encoded = _key_bytes(key, "get")
        parsed = None if range is None else _parse_range(range)
        cond = _conditional(onlyIf)
        await asyncio.sleep(0)
        meta = self._row(encoded)
        if meta is None:
            return None
        if cond is not None and not _passes(cond, meta):
            return R2Object(meta)
        offset, length = (0, meta["size"]) if parsed is None else _resolve_range(parsed, meta["size"])
        # Opened with no await since the row was read: the body matches the metadata.
        obj = R2ObjectBody(meta, _BodyStream(os.open(self._blobs / meta["version"], os.O_RDONLY), offset, length))
        if parsed is not None:
            obj.range = JsRecord({"offset": offset, "length": length})
        return obj

    async def put(self, key: str, value: Any, httpMetadata: Any = None, customMetadata: Any = None,  # noqa: N803
                  onlyIf: Any = None, md5: Any = None, **_options: Any) -> R2Object | None:  # noqa: N803
        encoded = _key_bytes(key, "put")
        http, custom, cond = _http_metadata(httpMetadata), _custom_metadata(customMetadata), _conditional(onlyIf)
        if md5 is not None and not isinstance(md5, str):
            md5 = _chunk_bytes(md5).hex()
        tmp = self._tmp / os.urandom(16).hex()
        try:
            size, etag = await _write_body(tmp, value)
            if md5 is not None and md5.lower() != etag:
                raise R2Error("put: The Content-MD5 you specified did not match what we received. (10037)")
            return self._commit(encoded, tmp, size, etag, http, custom, cond)
        finally:
            tmp.unlink(missing_ok=True)

    def _commit(self, key: bytes, tmp: Path, size: int, etag: str, http: dict, custom: dict,
                cond: _Cond | None) -> R2Object | None:
        """Check `onlyIf` and publish the body. Synchronous on purpose: nothing else runs in between."""
        version, uploaded_ms = os.urandom(16).hex(), int(time.time() * 1000)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            old = self._row(key)
            if cond is not None and not _passes(cond, old):
                self._db.execute("ROLLBACK")
                return None
            os.replace(tmp, self._blobs / version)
            self._db.execute(f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                             (key, version, size, etag, uploaded_ms, json.dumps(http), json.dumps(custom)))
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            (self._blobs / version).unlink(missing_ok=True)
            raise
        if old is not None:  # readers that already opened the old body keep their descriptor
            (self._blobs / old["version"]).unlink(missing_ok=True)
        return R2Object(self._row(key))  # type: ignore[arg-type]

    async def delete(self, keys: str | list[str]) -> None:
        items = [keys] if isinstance(keys, str) else list(keys)
        if len(items) > MAX_LIST:
            raise R2Error("delete: You can delete at most 1000 objects at once. (10001)")
        encoded = [_key_bytes(k, "delete") for k in items]
        await asyncio.sleep(0)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            gone = [meta["version"] for meta in map(self._row, encoded) if meta is not None]
            self._db.executemany("DELETE FROM objects WHERE key = ?", [(k,) for k in encoded])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        for version in gone:
            (self._blobs / version).unlink(missing_ok=True)

    async def list(self, prefix: str | None = None, limit: int | None = None, cursor: str | None = None,
                   delimiter: str | None = None, startAfter: str | None = None,  # noqa: N803
                   include: list[str] | None = None, **_options: Any) -> JsRecord:
        limit = MAX_LIST if limit is None else limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise R2Error("list: MaxKeys params must be positive integer <= 1000. (10022)")
        wanted = set(include or ())
        if wanted - {"httpMetadata", "customMetadata"}:
            raise JsTypeError(f"list: unsupported include values {sorted(wanted)}")
        prefix = prefix or ""
        upper = _prefix_end(prefix.encode())
        # The scan position: (key bytes, inclusive?). Start at the prefix; startAfter and the cursor
        # can only move it forward.
        bounds = [(prefix.encode(), True)]
        if startAfter:
            bounds.append((_key_bytes(startAfter, "list"), False))
        if cursor:
            try:
                raw = base64.b64decode(str(cursor), altchars=b"-_", validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if raw[:1] not in (b"\x00", b"\x01"):
                raise R2Error("list: The provided cursor is invalid. (10025)")
            bounds.append((raw[1:], raw[:1] == b"\x01"))
        low, inclusive = max(bounds, key=lambda b: (b[0], not b[1]))
        await asyncio.sleep(0)
        objects: list[R2Object] = []
        prefixes: list[str] = []
        truncated = False
        while not truncated:
            sql = f"SELECT {_COLUMNS} FROM objects WHERE key {'>=' if inclusive else '>'} ?"  # noqa: S608 - constants only
            args: list[Any] = [low]
            if upper is not None:
                sql, args = sql + " AND key < ?", [*args, upper]
            rows = self._db.execute(sql + " ORDER BY key LIMIT ?", (*args, limit - len(objects) - len(prefixes) + 1)).fetchall()
            if not rows:
                break
            for row in rows:
                if len(objects) + len(prefixes) == limit:
                    truncated = True  # one more entry exists beyond this page
                    break
                name = row[0].decode("utf-8")
                cut = name.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:  # roll the whole group up into one delimited prefix, then skip past it
                    prefixes.append(name[: cut + len(delimiter)])
                    low, inclusive = _prefix_end(prefixes[-1].encode()), True
                    break
                objects.append(R2Object(self._meta(row), with_http="httpMetadata" in wanted,
                                        with_custom="customMetadata" in wanted))
                low, inclusive = row[0], False
        result: dict[str, Any] = {"objects": objects, "truncated": truncated, "delimitedPrefixes": prefixes}
        if truncated:  # like R2, `cursor` exists only on a truncated page
            result["cursor"] = base64.urlsafe_b64encode((b"\x01" if inclusive else b"\x00") + low).decode("ascii")
        return JsRecord(result)
