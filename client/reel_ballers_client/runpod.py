"""`RunPodClient`: RunPod's serverless API (`/run`, `/status/{id}`, `/cancel/{id}`) for a backend
that talks to RunPod itself (seed 004), with the same error style as `WorkersClient`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from reel_ballers_client.errors import TransportError


class RunPodError(Exception):
    """RunPod answered an error (`status` is the HTTP status) or something that is not its API."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"RunPod {status}: {message}")
        self.status, self.message = status, message


class RunPodClient:
    """`endpoint` is `https://api.runpod.ai/v2/<endpoint-id>` (or a compatible local endpoint)."""

    def __init__(self, endpoint: str, api_key: str, *, timeout_s: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=endpoint.rstrip("/"), timeout=timeout_s, transport=transport,
                                       headers={"Authorization": f"Bearer {api_key}"})

    async def __aenter__(self) -> RunPodClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit_job(self, job_input: dict[str, Any], *, webhook: str | None = None) -> dict[str, Any]:
        """`{"id", "status": "IN_QUEUE", ...}`."""
        body: dict[str, Any] = {"input": job_input}
        if webhook:
            body["webhook"] = webhook
        return await self._call("POST", "/run", json=body)

    async def get_job_status(self, runpod_id: str) -> dict[str, Any]:
        """`{"id", "status": IN_QUEUE | IN_PROGRESS | COMPLETED | FAILED | CANCELLED | TIMED_OUT, "output"?, ...}`."""
        return await self._call("GET", f"/status/{quote(runpod_id, safe='')}")

    async def cancel(self, runpod_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/cancel/{quote(runpod_id, safe='')}")

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise TransportError(f"RunPod {method} {path}: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.is_success:
            detail = body.get("error") if isinstance(body, dict) else None
            raise RunPodError(response.status_code, str(detail or response.reason_phrase))
        if not isinstance(body, dict):
            raise RunPodError(response.status_code, "the answer is not a JSON object")
        return body
