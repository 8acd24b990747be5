"""How routes reach a user's jobs: the user's `UserJobs` object, and plain values from its answers."""

from __future__ import annotations

from typing import Any

from app.errors import raise_refusal
from bindings.rpc import plain
from jobs.ids import is_job_id
from refusals import refusal


def user_jobs(env: Any, user_id: str) -> Any:
    """The object holding `user_id`'s jobs."""
    return env.USER_JOBS.getByName(user_id)


def check_job_id(job_id: str) -> str:
    """An id that cannot be a job's is a 404 before any object is touched."""
    if not is_job_id(job_id):
        raise_refusal(refusal("not_found"))
    return job_id


__all__ = ["check_job_id", "plain", "user_jobs"]
