"""Job ids and the paths that carry them."""

from __future__ import annotations

import re

JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WS_PATH = re.compile(r"^/api/jobs/([^/]+)/ws/?$")


def is_job_id(value: str) -> bool:
    return bool(JOB_ID_RE.match(value))


def parse_ws_path(path: str) -> str | None:
    """The job id of a `/api/jobs/{id}/ws` path, or None for any other path."""
    match = _WS_PATH.match(path)
    return match.group(1) if match else None
