"""The seed-001 switch: a backend sends an export to the Worker when `USE_WORKERS_EXPORT=true`, and to
its own local path otherwise, and answers the same shape either way:
`{"job_id", "status", "websocket_url"}` (`websocket_url` is None on a local path that has none).

    switch = ExportSwitch.from_env()          # USE_WORKERS_EXPORT, WORKERS_API_URL, WORKERS_API_KEY
    answer = await start_export(switch, "overlay", user_id="alice", project_id=1,
                                input_key="working_videos/a.mp4", params={...}, local=my_local_export)
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reel_ballers_client.workers import WorkersClient

LocalExport = Callable[..., Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class ExportSwitch:
    use_workers: bool
    workers_url: str = "http://localhost:8787"
    api_key: str = ""
    transport: httpx.AsyncBaseTransport | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ExportSwitch:
        env = os.environ if environ is None else environ
        return cls(use_workers=env.get("USE_WORKERS_EXPORT", "false").strip().lower() == "true",
                   workers_url=env.get("WORKERS_API_URL", "http://localhost:8787"),
                   api_key=env.get("WORKERS_API_KEY", ""))


async def start_export(switch: ExportSwitch, export_type: str, *, user_id: str, project_id: int, input_key: str,
                       params: dict[str, Any], local: LocalExport,
                       idempotency_key: str | None = None) -> dict[str, Any]:
    """Start an export where the switch says; `local(export_type=..., user_id=..., project_id=...,
    input_key=..., params=...)` is the backend's own path."""
    if not switch.use_workers:
        answer = await local(export_type=export_type, user_id=user_id, project_id=project_id,
                             input_key=input_key, params=params)
        return {"job_id": answer["job_id"], "status": answer["status"],
                "websocket_url": answer.get("websocket_url")}
    if not switch.api_key:
        raise ValueError("USE_WORKERS_EXPORT is true but WORKERS_API_KEY is not set")
    async with WorkersClient(switch.workers_url, switch.api_key, user_id, transport=switch.transport) as client:
        started = await client.start_export(export_type, project_id, input_key, params,
                                            idempotency_key=idempotency_key)
    return {"job_id": started["job_id"], "status": started["status"], "websocket_url": started["websocket_url"]}
