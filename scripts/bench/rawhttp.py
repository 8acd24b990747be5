"""A lean HTTP/1.1 keep-alive client for load loops on 127.0.0.1.

httpx costs this 2-core machine 2.5-4 ms of CPU per request (measured against the seed's
/health at 8-32 concurrent), which is more than the fastest target spends serving one: the client
would eat the cores it is measuring. This one costs a fraction of that. It speaks only what
the two targets answer: Content-Length or chunked bodies, keep-alive unless told to close.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from urllib.parse import urlsplit


class RawHttpError(Exception):
    pass


class _Stale(Exception):
    """A kept-alive connection the server had closed: nothing was read, so the request may be resent."""


class RawResponse:
    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code, self.content = status_code, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return jsonlib.loads(self.content)


class RawHttp:
    """Up to `size` persistent connections to `base_url`; each request borrows one."""

    def __init__(self, base_url: str, size: int, timeout: float = 30) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.size, self.timeout = size, timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open = 0
        self._free = asyncio.Condition()

    async def _borrow(self, fresh: bool = False) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], bool]:
        """A connection and whether it was kept alive from an earlier request."""
        async with self._free:
            await self._free.wait_for(lambda: self._idle or self._open < self.size)
            if self._idle and not fresh:
                return self._idle.pop(), True
            if self._idle:  # a fresh one is wanted: close an idle one to stay within `size`
                self._idle.pop()[1].close()
                self._open -= 1
            self._open += 1
        try:
            return await asyncio.open_connection(self.host, self.port), False
        except BaseException:
            await self._drop(None)
            raise

    async def _give_back(self, conn) -> None:
        async with self._free:
            self._idle.append(conn)
            self._free.notify()

    async def _drop(self, conn) -> None:
        if conn is not None:
            conn[1].close()
        async with self._free:
            self._open -= 1
            self._free.notify()

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      json: object = None) -> RawResponse:
        body = b"" if json is None else jsonlib.dumps(json).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        if json is not None:
            head.append("Content-Type: application/json")
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            conn, reused = await self._borrow(fresh=attempt == 2)
            try:
                async with asyncio.timeout(self.timeout):
                    conn[1].write(payload)
                    status, content, keep = await _read_response(conn[0], method)
                break
            except _Stale:
                await self._drop(conn)
                if not reused:
                    raise RawHttpError("the server closed a new connection without answering") from None
            except BaseException as exc:
                await self._drop(conn)
                if isinstance(exc, (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError)):
                    raise RawHttpError(f"{type(exc).__name__}: {exc}") from exc
                raise
        if keep:
            await self._give_back(conn)
        else:
            await self._drop(conn)
        return RawResponse(status, content)

    async def aclose(self) -> None:
        async with self._free:
            for _, writer in self._idle:
                writer.close()
            self._idle.clear()

    async def __aenter__(self) -> RawHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bytes, bool]:
    try:
        status_line = await reader.readuntil(b"\r\n")
    except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
        if isinstance(exc, ConnectionResetError) or not exc.partial:
            raise _Stale from exc
        raise
    status = int(status_line.split(b" ", 2)[1])
    length, chunked, keep = None, False, True
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
        elif name == b"connection" and value == b"close":
            keep = False
    if method == "HEAD" or status in (101, 204, 304) or 100 <= status < 200:
        return status, b"", keep
    if chunked:
        parts = []
        while (size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
            parts.append(await reader.readexactly(size + 2))
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
        return status, b"".join(p[:-2] for p in parts), keep
    if length is not None:
        return status, await reader.readexactly(length), keep
    return status, await reader.read(), False
