"""Parse what RunPod and GPU workers report into one `Update`.

Two shapes arrive at the callback URL: the GPU worker's own progress body
(`{"status": "progress"|"complete"|"error", ...}`) and RunPod's webhook, which is its status body
(`{"id", "status": "COMPLETED"|"FAILED"|..., "output"?, "error"?}`). The watchdog's `/status`
polls use the same RunPod parser.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MESSAGE_MAX = 1000
ERROR_MAX = 2000
WORKER_STATUSES = ("progress", "complete", "error")
RUNPOD_STATUSES = ("IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


class InvalidCallback(ValueError):  # noqa: N818 - reads as what it is
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Update:
    kind: str  # "progress", "complete", "error", "cancelled", or "running" (alive, nothing new)
    progress: int | None = None
    message: str | None = None
    output_key: str | None = None
    error: str | None = None


def _text(value: Any, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCallback(f"{field} must be a string", field)
    return value[:limit]


def _error_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:ERROR_MAX]


def _progress(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidCallback("progress must be a number", "progress")
    return int(min(100, max(0, value)))


def parse_callback(body: Any) -> Update:
    """The update a callback body carries; raises InvalidCallback for a malformed one."""
    if not isinstance(body, dict):
        raise InvalidCallback("callback body must be a JSON object")
    status = body.get("status")
    if not isinstance(status, str):
        raise InvalidCallback("status must be a string", "status")
    if status in RUNPOD_STATUSES:
        return from_runpod_status(body)
    if status not in WORKER_STATUSES:
        raise InvalidCallback(f"unknown status {status[:40]!r}", "status")
    message = _text(body.get("message"), "message", MESSAGE_MAX)
    progress = _progress(body.get("progress"))
    output_key = _text(body.get("output_key"), "output_key", 2048)
    if status == "progress":
        return Update("progress", progress=progress, message=message)
    if status == "complete":
        return Update("complete", progress=100, message=message, output_key=output_key)
    return Update("error", message=message, error=_error_text(body.get("error")) or "Job failed")


def from_runpod_status(body: dict) -> Update:
    """RunPod's status body (webhook or `GET /status/{id}`) as an update."""
    status = body.get("status")
    output = body.get("output")
    if status == "COMPLETED":
        if isinstance(output, dict) and output.get("status") == "error":
            return Update("error", error=_error_text(output.get("error")) or "Job failed")
        key = output.get("output_key") if isinstance(output, dict) else None
        return Update("complete", progress=100, output_key=_text(key, "output.output_key", 2048))
    if status == "FAILED":
        return Update("error", error=_error_text(body.get("error")) or "Job failed on RunPod")
    if status == "CANCELLED":
        return Update("cancelled")
    if status == "TIMED_OUT":
        return Update("error", error="timed out")
    if status in ("IN_QUEUE", "IN_PROGRESS"):
        progress = _progress(output.get("progress")) if isinstance(output, dict) else None
        return Update("running", progress=progress)
    raise InvalidCallback(f"unknown RunPod status {str(status)[:40]!r}", "status")
