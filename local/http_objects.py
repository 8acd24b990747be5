"""Request, Response and Headers shaped like the `workers` SDK's, for CPython.

The real classes wrap JS objects; these hold plain Python values. Only the surface the project
uses (and that the SDK documents) is provided, with the same strictness: a dict body is a
TypeError, `Response.json` is both a static constructor and an instance reader, bodies can be
read once.
"""

from __future__ import annotations

import json as _json
from collections.abc import AsyncIterator
from http import HTTPMethod
from typing import Any


class Headers:
    """Case-insensitive, order-keeping header list (what `request.headers` behaves like)."""

    def __init__(self, init: Any = None) -> None:
        self._items: list[tuple[str, str]] = []
        if init is None:
            return
        if isinstance(init, Headers):
            init = init.items()
        elif isinstance(init, dict):
            init = init.items()
        for name, value in init:
            self.append(str(name), str(value))

    def append(self, name: str, value: str) -> None:
        self._items.append((name.lower(), value))

    def set(self, name: str, value: str) -> None:
        self.delete(name)
        self.append(name, value)

    def delete(self, name: str) -> None:
        lname = name.lower()
        self._items = [(k, v) for k, v in self._items if k != lname]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = [v for k, v in self._items if k == name.lower()]
        return ", ".join(values) if values else default

    def has(self, name: str) -> bool:
        return any(k == name.lower() for k, _ in self._items)

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self._items if k == name.lower()]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def keys(self) -> list[str]:
        return [k for k, _ in self._items]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has(name)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self):
        return iter(self.keys())

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class _Body:
    """A body that is bytes, or an async stream of byte chunks; readable once."""

    def __init__(self, content: Any) -> None:
        self._used = False
        self._bytes: bytes | None = None
        self._stream: AsyncIterator[bytes] | None = None
        if content is None:
            self._bytes = b""
        elif isinstance(content, str):
            self._bytes = content.encode()
        elif isinstance(content, bytes | bytearray | memoryview):
            self._bytes = bytes(content)
        elif hasattr(content, "to_bytes"):
            self._bytes = content.to_bytes()
        elif hasattr(content, "__aiter__"):
            self._stream = content.__aiter__()
        else:
            raise TypeError(f"Unsupported type in body: {type(content).__name__}")

    @property
    def used(self) -> bool:
        return self._used

    async def read(self) -> bytes:
        if self._used:
            raise TypeError("Body has already been used. It can only be used once.")
        self._used = True
        if self._bytes is not None:
            return self._bytes
        chunks = []
        async for chunk in self._stream:  # type: ignore[union-attr]
            chunks.append(bytes(chunk))
        return b"".join(chunks)

    async def iterate(self) -> AsyncIterator[bytes]:
        if self._used:
            raise TypeError("Body has already been used. It can only be used once.")
        self._used = True
        if self._bytes is not None:
            if self._bytes:
                yield self._bytes
            return
        async for chunk in self._stream:  # type: ignore[union-attr]
            yield bytes(chunk)


class _BodyMixin:
    _body: _Body

    @property
    def body(self) -> AsyncIterator[bytes]:
        """The body as a stream (what `R2.put` and `Response` accept)."""
        return self._body.iterate()

    @property
    def body_used(self) -> bool:
        return self._body.used

    async def bytes(self) -> bytes:
        return await self._body.read()

    async def text(self) -> str:
        return (await self._body.read()).decode()

    async def _read_json(self) -> Any:
        return _json.loads(await self._body.read())


class Request(_BodyMixin):
    """An incoming or outgoing HTTP request (`workers.Request`)."""

    def __init__(self, input: str | Request, *, method: str | HTTPMethod = "GET", headers: Any = None,
                 body: Any = None, **_options: Any) -> None:
        if isinstance(input, Request):
            self._url = input.url
            method = method if method != "GET" else input.method
            headers = headers if headers is not None else input.headers
        else:
            self._url = str(input)
        self._method = HTTPMethod(str(method.value if isinstance(method, HTTPMethod) else method).upper())
        self._headers = Headers(headers)
        self._body = _Body(body)

    @property
    def url(self) -> str:
        return self._url

    @property
    def method(self) -> HTTPMethod:
        return self._method

    @property
    def headers(self) -> Headers:
        return self._headers

    @property
    def js_object(self) -> Request:
        return self

    async def json(self) -> Any:
        return await self._read_json()

    def __repr__(self) -> str:
        return f"Request(method={self.method.value!r}, url={self.url!r})"


class _JsonDescriptor:
    """`Response.json(data)` builds a JSON response; `await response.json()` reads one."""

    def __get__(self, obj: Response | None, owner: type[Response]):
        if obj is None:
            return owner._from_json
        return obj._read_json


class Response(_BodyMixin):
    """An HTTP response (`workers.Response`), also what outbound `fetch` returns."""

    json = _JsonDescriptor()

    def __init__(self, body: Any = None, status: int | None = None, status_text: str = "",
                 headers: Any = None, web_socket: Any = None) -> None:
        if isinstance(body, dict | list):
            raise TypeError(f"Unsupported type in Response: {type(body).__name__}")
        self._body = _Body(body)
        self.status = int(status) if status else 200
        if not (200 <= self.status <= 599) and not (self.status == 101 and web_socket is not None):
            raise ValueError(f"Response status must be between 200 and 599, got {self.status}")
        self.status_text = status_text
        self._headers = Headers(headers)
        if isinstance(body, str) and not self._headers.has("content-type"):
            self._headers.set("content-type", "text/plain;charset=UTF-8")
        self.web_socket = web_socket
        self.url = ""

    @property
    def headers(self) -> Headers:
        return self._headers

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    @property
    def js_object(self) -> Response:
        return self

    @staticmethod
    def _from_json(data: Any, status: int = 200, status_text: str = "", headers: Any = None) -> Response:
        merged = Headers(headers)
        if not merged.has("content-type"):
            merged.set("content-type", "application/json")
        return Response(_json.dumps(data), status=status, status_text=status_text, headers=merged)

    def __repr__(self) -> str:
        return f"Response(status={self.status})"

