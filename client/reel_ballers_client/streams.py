"""Bodies for `WorkersClient.upload` and files for `download`: streamed, never blocking the event loop.

Uploads go to storage URLs, which take no chunked upload (R2's PUT, and the Worker's own signed URLs,
want a `Content-Length`), so every body goes out with its length: bytes have one; a seekable file
(a disk file, `io.BytesIO`) has one from where it stands to its end; a pipe, a socket's file or an
iterator of chunks has the `content_length` the caller gives, or else none the client can know
without reading it all. Such a body is read to its end into a spooled temporary file first (in
memory up to `SPOOL_MEMORY_BYTES`, then on disk), which gives the length, and is sent from there.

Downloads into a path write a temporary file of their own next to it (`<name>.<random>.part`) and
rename it over the path once whole: the path holds the old file or the new one, never a part, and
two downloads to one path each write their own part (the last to finish wins).
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx

SPOOL_MEMORY_BYTES = 8 << 20  # a body of unknown length is kept in memory up to this, then on disk

# What `upload` takes.
UploadData = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes] | AsyncIterable[bytes]


async def upload_body(data: UploadData, content_length: int | None, chunk_bytes: int) -> tuple[Any, int]:
    """The request content for `data` and its length in bytes."""
    if isinstance(data, bytes | bytearray | memoryview):
        body = bytes(data)
        if content_length is not None and content_length != len(body):
            raise ValueError(f"content_length is {content_length}, the data is {len(body)} bytes")
        return body, len(body)
    if content_length is not None and content_length < 0:
        raise ValueError("content_length must be 0 or more")
    if hasattr(data, "read"):
        chunks = _read_chunks(data, chunk_bytes)
        if content_length is None:
            content_length = await asyncio.to_thread(_remaining, data)
    elif isinstance(data, AsyncIterable | Iterable):
        chunks = _iterate(data)
    else:
        raise TypeError(f"upload takes bytes, a binary file or an iterator of bytes, not {type(data).__name__}")
    if content_length is None:
        return await _spooled(chunks, chunk_bytes)
    return _exactly(chunks, content_length), content_length


def _remaining(source: Any) -> int | None:
    """Bytes from a file's position to its end, when it can seek; else None."""
    try:
        if not source.seekable():
            return None
        start = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(start)
    except (AttributeError, OSError, ValueError):
        return None
    return max(0, end - start)


async def _read_chunks(source: Any, chunk_bytes: int) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(source.read, chunk_bytes):  # a disk or a pipe: never on the loop
        yield chunk


async def _iterate(chunks: Iterable[bytes] | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
        return
    iterator: Iterator[bytes] = iter(chunks)
    done = object()
    while (chunk := await asyncio.to_thread(next, iterator, done)) is not done:  # it may block (a pipe)
        yield chunk  # type: ignore[misc]


def _checked(chunk: Any) -> bytes:
    if not isinstance(chunk, bytes | bytearray | memoryview):
        raise TypeError(f"upload data must be bytes, not {type(chunk).__name__} (open files in binary mode)")
    return bytes(chunk)


async def _exactly(chunks: AsyncIterator[bytes], length: int) -> AsyncIterator[bytes]:
    """The chunks, refusing a body longer or shorter than the Content-Length sent with it."""
    sent = 0
    async for chunk in chunks:
        sent += len(chunk := _checked(chunk))
        if sent > length:
            raise ValueError(f"the data is longer than content_length ({length} bytes)")
        yield chunk
    if sent != length:
        raise ValueError(f"the data ended after {sent} bytes; content_length said {length}")


async def _spooled(chunks: AsyncIterator[bytes], chunk_bytes: int) -> tuple[AsyncIterator[bytes], int]:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - closed by _drain
    try:
        async for chunk in chunks:
            await asyncio.to_thread(spool.write, _checked(chunk))
        length = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return _drain(spool, chunk_bytes), length


async def _drain(spool: Any, chunk_bytes: int) -> AsyncIterator[bytes]:
    try:
        async for chunk in _read_chunks(spool, chunk_bytes):
            yield chunk
    finally:
        spool.close()


async def copy(response: httpx.Response, out: BinaryIO, chunk_bytes: int) -> int:
    """Write a response's body into `out`; its size."""
    size = 0
    async for chunk in response.aiter_bytes(chunk_bytes):
        await asyncio.to_thread(out.write, chunk)  # never block the event loop on disk
        size += len(chunk)
    return size


async def save(response: httpx.Response, dest: str | os.PathLike[str], chunk_bytes: int) -> int:
    """Write a response's body to the path `dest`, whole or not at all; its size."""
    path = Path(dest)
    # Its own part file ("x": created here, never one another download writes), next to the path so the
    # rename stays on one file system and is atomic.
    partial = path.with_name(f"{path.name}.{secrets.token_hex(8)}.part")
    try:
        out = await asyncio.to_thread(open, partial, "xb")
        with out:
            size = await copy(response, out, chunk_bytes)
        await asyncio.to_thread(os.replace, partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size
