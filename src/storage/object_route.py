"""`/api/storage/object/{key}?exp=&sig=`: the Worker serving R2 objects for Worker-signed URLs.

Handled by the entry point rather than the ASGI app so that bodies stream between the client and
R2 as JS streams (`Response(obj.body)`, `bucket.put(key, request.body)`) instead of being
buffered in Python: videos are far larger than a Worker's memory.

Objects are served as data, never as pages of this origin (`storage.content_types`): a PUT is
stored as the type its URL was issued for and refused (415) with any other, and every answer about
an object carries `nosniff`, a sandbox CSP and a Content-Disposition.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from workers import Response

from bindings import r2
from bounds import MAX_UPLOAD_BYTES, read_decimal
from security_headers import NOSNIFF
from settings import MissingSecret, Settings
from storage import content_types, signed_urls
from worker_errors import json_error

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")


class _Responder:
    """Builds every response of one request with the same extra headers (CORS)."""

    def __init__(self, extra: dict[str, str]) -> None:
        self.extra = extra

    def error(self, status: int, code: str, message: str, headers: dict | None = None) -> Any:
        return json_error(status, code, message, {**self.extra, **(headers or {})})

    def body(self, body: Any, status: int, headers: dict) -> Any:
        return Response(body, status=status, headers={**self.extra, **headers})

    def json(self, data: dict) -> Any:
        return Response.json(data, status=200, headers=self.extra)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(offset, length) for a single `bytes=` range; None for no range; "unsatisfiable" for a bad one."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # not a form we serve: answer the whole object, as RFC 9110 allows
    first, last = read_decimal(match.group(1)), read_decimal(match.group(2))
    if first is None:  # suffix: the last N bytes
        length = min(last, size)
        return (size - length, length) if length > 0 else "unsatisfiable"
    start = first
    end = min(last, size - 1) if last is not None else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end - start + 1


def _object_headers(key: str, meta: r2.StoredObject) -> dict:
    return {**content_types.object_headers(key, meta.content_type), "ETag": meta.http_etag, "Accept-Ranges": "bytes"}


async def handle(request: Any, method: str, env: Any, path: str, query: str, extra_headers: dict[str, str]) -> Any:
    """Serve one request (`method` as sent, upper-case); `extra_headers` (CORS) go on every response."""
    out = _Responder({**extra_headers, **NOSNIFF})
    key = unquote(path[len(signed_urls.OBJECT_PATH):])
    if method not in ("GET", "HEAD", "PUT"):
        return out.error(405, "method_not_allowed", "Method not allowed on this route", {"Allow": "GET, HEAD, PUT"})
    params = parse_qs(query)
    try:
        secret = Settings.from_env(env).secret("URL_SIGNING_SECRET")
    except MissingSecret as exc:
        return out.error(500, "config_error", f"Server misconfigured: secret {exc.name} is not set")
    exp, sig, bound = ((params.get(name) or [None])[0] for name in ("exp", "sig", "ct"))
    if not key or not signed_urls.verify(secret, key, method, exp, sig, time.time(), bound):
        return out.error(403, "forbidden", "Missing, invalid or expired signature")
    if method == "PUT":
        return await _put(request, env, key, bound, out)
    return await _get(request, env, key, out, head=method == "HEAD")


async def _get(request: Any, env: Any, key: str, out: _Responder, head: bool) -> Any:
    meta = await r2.head(env.USER_DATA, key)
    if meta is None:
        return out.error(404, "not_found", "No such object")
    size = int(meta.size)
    wanted = parse_range(request.headers.get("range"), size)
    if wanted == "unsatisfiable":
        return out.error(416, "range_not_satisfiable", "Requested range is outside the object",
                      {"Content-Range": f"bytes */{size}"})
    headers = _object_headers(key, meta)
    if head:
        return out.body(None, 200, {**headers, "Content-Length": str(size)})
    if wanted is None:
        obj = await env.USER_DATA.get(key)
        if obj is None:
            return out.error(404, "not_found", "No such object")
        return out.body(obj.body, 200, {**headers, "Content-Length": str(size)})
    offset, length = wanted
    obj = await env.USER_DATA.get(key, range={"offset": offset, "length": length})
    if obj is None:
        return out.error(404, "not_found", "No such object")
    return out.body(obj.body, 206, {
        **headers, "Content-Length": str(length), "Content-Range": f"bytes {offset}-{offset + length - 1}/{size}"})


async def _put(request: Any, env: Any, key: str, bound: str, out: _Responder) -> Any:
    declared = read_decimal(request.headers.get("content-length"))
    if declared is None:
        return out.error(411, "length_required", "PUT needs a Content-Length header")
    if declared > MAX_UPLOAD_BYTES:
        return out.error(413, "payload_too_large", f"Upload is larger than {MAX_UPLOAD_BYTES} bytes")
    # Exactly the bound value (whitespace runs aside), as R2 holds a SigV4 upload to its signed header:
    # a client that works here works against R2.
    if " ".join((request.headers.get("content-type") or "").split()) != bound:
        return out.error(415, "content_type_mismatch",
                         f"This upload URL was issued for Content-Type: {bound}; the PUT must send exactly that")
    body = request.body if declared > 0 else b""
    obj = await env.USER_DATA.put(key, body, httpMetadata={"contentType": bound})
    return out.json({"key": key, "size": int(obj.size), "etag": obj.etag})
