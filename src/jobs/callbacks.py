"""Parse what RunPod and GPU workers report into one `Update`.

Two shapes arrive at the callback URL: the GPU worker's own progress body
(`{"status": "progress"|"complete"|"error", ...}`) and RunPod's webhook, which is its status body
(`{"id", "status": "COMPLETED"|"FAILED"|..., "output"?, "error"?}`). The watchdog's `/status`
polls use the same RunPod parser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from bounds import is_finite_number
from storage.keys import MAX_KEY_BYTES

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
    # "progress", "complete", "error", "cancelled", "running" (alive, nothing new), "timed_out" (RunPod's
    # TIMED_OUT: jobs/attempts.py tells a deadline passed from a worker lost), "expired" or "timed_out"
    kind: str
    progress: int | None = None
    message: str | None = None
    output_key: str | None = None
    error: str | None = None
    queue_ms: int | None = None  # RunPod's `delayTime`: how long the job waited for a GPU
    execution_ms: int | None = None  # RunPod's `executionTime`: how long a GPU ran it
    running: bool = False  # a GPU is running (or ran) the job: its reports, RunPod's IN_PROGRESS and after
    retryable: bool = False  # an error not the input's fault: the job may run again (jobs/attempts.py)


def _text(value: Any, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCallback(f"{field} must be a string", field)
    return value[:limit]


def _key(value: Any, field: str) -> str | None:
    """A reported output key: a string of 1 to MAX_KEY_BYTES characters (the key rules follow later)."""
    if isinstance(value, str) and not 1 <= len(value) <= MAX_KEY_BYTES:
        raise InvalidCallback(f"{field} must be 1 to {MAX_KEY_BYTES} characters", field)
    return _text(value, field, MAX_KEY_BYTES)


def _error_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:ERROR_MAX]


def _progress(value: Any, field: str = "progress") -> int | None:
    if value is None:
        return None
    if not is_finite_number(value):
        raise InvalidCallback(f"{field} must be a number", field)
    return int(min(100, max(0, value)))


def _millis(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if not is_finite_number(value) or value < 0:
        raise InvalidCallback(f"{field} must be a number of milliseconds, not negative", field)
    return int(value)


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
    output_key = _key(body.get("output_key"), "output_key")
    # Only a GPU worker that runs the job reports: every report is a sign it runs.
    if status == "progress":
        return Update("progress", progress=progress, message=message, running=True)
    if status == "complete":
        return Update("complete", progress=100, message=message, output_key=output_key, running=True)
    return Update("error", message=message, error=_error_text(body.get("error")) or "Job failed", running=True,
                  retryable=_flag(body.get("retryable"), "retryable"))


def _flag(value: Any, field: str) -> bool:
    """An optional boolean: absent or null is False (an error is the input's unless the worker says not)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidCallback(f"{field} must be a boolean", field)
    return value


def from_runpod_status(body: dict) -> Update:
    """RunPod's status body (webhook or `GET /status/{id}`) as an update.

    Every field is type-checked whatever the status, so a body is valid or not by its shape alone.
    """
    update = _runpod_outcome(body)
    usage = {"queue_ms": _millis(body.get("delayTime"), "delayTime"),
             "execution_ms": _millis(body.get("executionTime"), "executionTime")}
    return replace(update, **usage)


def _runpod_outcome(body: dict) -> Update:
    status = body.get("status")
    if not isinstance(body.get("id", ""), str):
        raise InvalidCallback("id must be a string", "id")
    output = body.get("output")
    fields = output if isinstance(output, dict) else {}
    key = _key(fields.get("output_key"), "output.output_key")
    progress = _progress(fields.get("progress"), "output.progress")
    if status == "COMPLETED":
        if fields.get("status") == "error":
            return Update("error", error=_error_text(fields.get("error")) or "Job failed", running=True,
                          retryable=_flag(fields.get("retryable"), "output.retryable"))
        return Update("complete", progress=100, output_key=key, running=True)
    if status == "FAILED":
        # The handler failed without its own report saying the input was at fault (that report, with
        # `retryable: false`, comes first and ends the job): an internal error, worth another attempt.
        return Update("error", error=_error_text(body.get("error")) or "Job failed on RunPod", running=True,
                      retryable=True)
    if status == "CANCELLED":
        return Update("cancelled")
    if status == "TIMED_OUT":
        return Update("timed_out", error="RunPod timed the job out")
    if status in ("IN_QUEUE", "IN_PROGRESS"):
        return Update("running", progress=progress, running=status == "IN_PROGRESS")
    raise InvalidCallback(f"unknown RunPod status {str(status)[:40]!r}", "status")
