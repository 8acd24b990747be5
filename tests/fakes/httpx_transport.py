"""An `outbound.Transport` over `httpx.AsyncClient`: what `bindings.http.request` does with
`workers.fetch`, done with real sockets on CPython, so code that takes a transport (the RunPod
client) can be tested against a real HTTP server such as `tests.fakes.runpod_server.FakeRunPod`.

    async with HttpxTransport() as transport:
        client = RunPodClient(fake.url, key, transport)

What it models of the Worker's transport (the contract in `src/outbound.py`): `json_body` sent as
JSON with `Content-Type: application/json`; redirects followed; every HTTP status is a response;
`timeout_s` is one deadline for the whole exchange, body included (like `AbortSignal.timeout`);
no answer at all (timeout, refused or reset connection, DNS failure) is a `TransportError` whose
message names the method and the URL without its query, never a header.

What it does not model: the Workers runtime itself (no input gates, no subrequest limits, no
`fetch` quirks such as its header normalisation or the `cf` options), streaming bodies (a body is
read whole). The client is the caller's: one per event loop,
closed with `aclose()` or by leaving the `async with`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from outbound import HttpResponse, TransportError, first_line


class HttpxTransport:
    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        # No client-level timeout: each call brings its own deadline.
        self._client = client or httpx.AsyncClient(follow_redirects=True, timeout=None)

    async def __call__(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                       json_body: Any = None, content: str | None = None, timeout_s: float = 10.0,
                       follow_redirects: bool = True) -> HttpResponse:
        all_headers = dict(headers or {})
        body = None if content is None else content.encode()
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        where = f"{method} {url.split('?', 1)[0]}"
        try:
            async with asyncio.timeout(timeout_s):
                resp = await self._client.request(method, url, headers=all_headers, content=body,
                                                  follow_redirects=follow_redirects)
        except TimeoutError:
            raise TransportError(f"{where} failed: timed out after {timeout_s:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # connect/read/protocol errors: no HTTP answer
            raise TransportError(f"{where} failed: {type(exc).__name__}: {first_line(exc)}") from None
        return HttpResponse(resp.status_code, resp.content)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> HttpxTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
