"""Job ids and the paths that carry them (the id rule itself is `bounds.is_job_id`)."""

from __future__ import annotations

import re

from bounds import is_job_id

__all__ = ["is_job_id", "parse_events_path", "parse_ws_path"]

_WS_PATH = re.compile(r"/api/jobs/([^/]+)/ws/?")
_EVENTS_PATH = re.compile(r"/api/export/jobs/([^/]+)/events")


def parse_ws_path(path: str) -> str | None:
    """The job id of a `/api/jobs/{id}/ws` path, or None for any other path."""
    match = _WS_PATH.fullmatch(path)
    return match.group(1) if match else None


def parse_events_path(path: str) -> str | None:
    """The job id of a `/api/export/jobs/{id}/events` path (server-sent events), or None."""
    match = _EVENTS_PATH.fullmatch(path)
    return match.group(1) if match else None
