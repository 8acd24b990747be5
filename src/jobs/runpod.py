"""The RunPod serverless client: the cloud API shapes, over an `outbound.Transport`.

`POST {endpoint}/run` with `{"input": ..., "webhook": ...}` answers `{"id", "status": "IN_QUEUE"}`;
`GET {endpoint}/status/{id}` answers the status body (also what the webhook receives);
`POST {endpoint}/cancel/{id}` cancels. All with `Authorization: Bearer {api_key}`.

    client = RunPodClient(settings.runpod_endpoint, api_key, bindings.http.request)
    result = await client.submit(payload, webhook)

The API key travels only in the Authorization header: no error message and no repr contains it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from outbound import Transport, TransportError

RETRYABLE_STATUSES = frozenset({408, 429})


class RunPodError(Exception):
    """A RunPod call failed. `retryable` says whether trying again later can help."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status, self.retryable = status, retryable


@dataclass(frozen=True)
class SubmitResult:
    id: str
    status: str


class RunPodClient:
    """One RunPod endpoint, called with one API key through `transport`.

    Each call raises `RunPodError` when RunPod does not answer with a JSON object (no answer, an
    HTTP error, or a body of the wrong shape), and `ValueError` when `endpoint` is not an http(s) URL.
    """

    def __init__(self, endpoint: str, api_key: str, transport: Transport) -> None:
        self.endpoint = endpoint
        self._api_key = api_key
        self._transport = transport

    def __repr__(self) -> str:  # the key never reaches logs through a repr
        return f"RunPodClient(endpoint={self.endpoint!r})"

    async def submit(self, input: dict, webhook: str, *, policy: dict | None = None,
                     timeout_s: float = 15.0) -> SubmitResult:
        """Queue a job on the endpoint; RunPod will POST its status body to `webhook` when it ends.
        `policy` is RunPod's execution policy (`ttl`, `executionTimeout`, in ms)."""
        body = {"input": input, "webhook": webhook, **({"policy": policy} if policy else {})}
        data = await self._call("POST", "/run", body, timeout_s)
        if not isinstance(data.get("id"), str) or not data["id"] or not isinstance(data.get("status"), str):
            raise RunPodError("RunPod answered /run without a job id and status", None, True)
        return SubmitResult(id=data["id"], status=data["status"])

    async def get_status(self, runpod_id: str, *, timeout_s: float = 10.0) -> dict:
        """The job's status body, as the webhook would receive it."""
        data = await self._call("GET", f"/status/{quote(runpod_id, safe='')}", timeout_s=timeout_s)
        if not isinstance(data.get("status"), str):
            raise RunPodError("RunPod answered /status without a status", None, True)
        return data

    async def cancel(self, runpod_id: str, *, timeout_s: float = 10.0) -> dict:
        return await self._call("POST", f"/cancel/{quote(runpod_id, safe='')}", timeout_s=timeout_s)

    def _url(self, path: str) -> str:
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("RUNPOD_ENDPOINT must be an http(s) URL")
        return self.endpoint.rstrip("/") + path

    async def _call(self, method: str, path: str, body: Any = None, timeout_s: float = 10.0) -> dict:
        url = self._url(path)
        try:
            resp = await self._transport(method, url, headers={"Authorization": f"Bearer {self._api_key}"},
                                         json_body=body, timeout_s=timeout_s)
        except TransportError as exc:
            raise RunPodError(f"RunPod {path.split('/')[1]} failed: {exc}", None, True) from None
        if not resp.ok:
            retryable = resp.status >= 500 or resp.status in RETRYABLE_STATUSES
            raise RunPodError(f"RunPod answered HTTP {resp.status} to {method} {path}", resp.status, retryable)
        try:
            data = resp.json()
        except ValueError:
            raise RunPodError(f"RunPod answered {method} {path} with a body that is not JSON", resp.status,
                              True) from None
        if not isinstance(data, dict):
            raise RunPodError(f"RunPod answered {method} {path} with unexpected JSON", resp.status, True)
        return data
