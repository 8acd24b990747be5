"""The job list's page cursor: opaque to clients, the (created_ms, job_id) of a page's last job.

Here and not in the user's jobs object (durable_objects/user_jobs.py) so that it is plain Python
that unit tests import on CPython.
"""

from __future__ import annotations

import base64
import json

from bounds import is_safe_int


class InvalidCursor(ValueError):  # noqa: N818
    pass


def encode_cursor(created_ms: int, job_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_ms, job_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The cursor's (created_ms, job_id), or InvalidCursor. `created_ms` is bound into the index's
    SQL, so it must be a safe integer whatever the route checked before."""
    try:
        created_ms, job_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not is_safe_int(created_ms) or not isinstance(job_id, str):
            raise ValueError
        return created_ms, job_id
    except Exception:
        raise InvalidCursor("cursor is not one this API returned") from None
