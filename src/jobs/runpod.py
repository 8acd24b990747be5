"""The RunPod serverless client: the cloud API shapes, over `bindings.http`.

`POST {endpoint}/run` with `{"input": ..., "webhook": ...}` answers `{"id", "status": "IN_QUEUE"}`;
`GET {endpoint}/status/{id}` answers the status body (also what the webhook receives);
`POST {endpoint}/cancel/{id}` cancels. All with `Authorization: Bearer {api_key}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from bindings.http import TransportError, request

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


def _url(endpoint: str, path: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("RUNPOD_ENDPOINT must be an http(s) URL")
    return endpoint.rstrip("/") + path


async def _call(method: str, endpoint: str, path: str, api_key: str, body: Any = None,
                timeout_s: float = 10.0) -> dict:
    url = _url(endpoint, path)
    try:
        resp = await request(method, url, headers={"Authorization": f"Bearer {api_key}"}, json_body=body,
                             timeout_s=timeout_s)
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


async def submit(endpoint: str, api_key: str, input: dict, webhook: str, *, timeout_s: float = 15.0) -> SubmitResult:
    """Queue a job on the endpoint; RunPod will POST its status body to `webhook` when it ends."""
    data = await _call("POST", endpoint, "/run", api_key, {"input": input, "webhook": webhook}, timeout_s)
    if not isinstance(data.get("id"), str) or not data["id"] or not isinstance(data.get("status"), str):
        raise RunPodError("RunPod answered /run without a job id and status", None, True)
    return SubmitResult(id=data["id"], status=data["status"])


async def get_status(endpoint: str, api_key: str, runpod_id: str, *, timeout_s: float = 10.0) -> dict:
    data = await _call("GET", endpoint, f"/status/{quote(runpod_id, safe='')}", api_key, timeout_s=timeout_s)
    if not isinstance(data.get("status"), str):
        raise RunPodError("RunPod answered /status without a status", None, True)
    return data


async def cancel(endpoint: str, api_key: str, runpod_id: str, *, timeout_s: float = 10.0) -> dict:
    return await _call("POST", endpoint, f"/cancel/{quote(runpod_id, safe='')}", api_key, timeout_s=timeout_s)
