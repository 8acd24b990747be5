"""How routes reach job Durable Objects: stubs by job id, and RPC answers turned into HTTP errors."""

from __future__ import annotations

import logging
from typing import Any

from app.errors import raise_refusal
from jobs.ids import is_job_id
from outbound import first_line
from refusals import refusal


def job_stub(env: Any, job_id: str) -> Any:
    """The job's object. An id that cannot be a job's is a 404 before any object is touched."""
    if not is_job_id(job_id):
        raise_refusal(refusal("not_found"))
    return env.EXPORT_JOB.getByName(job_id)


log = logging.getLogger("reel.jobs_access")


def index_stub(env: Any, user_id: str) -> Any:
    return env.USER_JOBS.getByName(user_id)


async def tell_index(env: Any, user_id: str, entry: dict) -> None:
    """Bring the user's job index up to date now, so the caller's own next list shows the change.
    Best effort: the job's object owes the same update to its alarm, which retries it."""
    try:
        await index_stub(env, user_id).upsert(entry)
    except Exception as exc:
        log.warning("job index update for %s deferred to the job's alarm: %s", entry.get("job_id"),
                    first_line(exc))


def plain(value: Any) -> Any:
    """An RPC result as plain JSON-able Python (dicts arrive as a dict subclass, lists as lists)."""
    if hasattr(value, "to_py"):
        value = value.to_py()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
