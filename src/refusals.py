"""How a Durable Object says no, and what each no is over HTTP: one shape, one table.

An object's RPC method answers a refusal as `refusal(code, ...)`: `{"refused": code, "message"?,
...extra}` (plain JSON, so it crosses RPC as it is). The routes turn it into the standard error
answer with `HTTP[code]` (`app.errors.raise_refusal`); nothing else maps object answers to statuses.
"""

from __future__ import annotations

from typing import Any

# code → (HTTP status, the sentence a client gets when the refusal carries none of its own).
HTTP: dict[str, tuple[int, str]] = {
    # export jobs
    "not_found": (404, "Unknown job"),
    "validation_error": (422, "Invalid input"),
    "already_finished": (409, "The job has already finished"),
    "not_retryable": (409, "Only a job that ended error, timed_out, cancelled or expired can be retried"),
    "too_many_attempts": (409, "The job has had as many attempts as a job may have"),
    "idempotency_key_reused": (409, "This Idempotency-Key was already used with a different request"),
    "webhook_not_allowed": (400, "The webhook URL is not one the deployment allows"),
    "delivery_in_flight": (409, "An attempt of this delivery is being sent right now; ask again once it is answered"),
    # a job's live events (durable_objects/job_feed.py): bounded per object, so memory stays bounded
    # (and the encode queue's waiting claims): one code, since a client does the same on either
    "too_many_waiters": (503, "As many requests as may wait here are waiting (long-polls of this user's jobs, "
                              "or claims on this queue); try again shortly, or without wait_s"),
    "too_many_streams": (503, "Too many event streams are open on this job or user; try again shortly"),
    # the encode queue
    "no_jobs": (404, "No jobs available"),
    "not_started": (404, "The job has not been started (it is pending)"),
    "not_in_progress": (409, "The job is not in progress"),
    "lease_lost": (409, "The lease is no longer current: it expired or the job was claimed again"),
    "not_dead": (409, "Only a dead job can be requeued"),
}


def refusal(code: str, message: str | None = None, **extra: Any) -> dict:
    """What an object returns to say no; `code` must be a key of `HTTP`."""
    if code not in HTTP:
        raise KeyError(f"unknown refusal {code!r}")
    answer: dict = {"refused": code, **extra}
    if message is not None:
        answer["message"] = message
    return answer


def refused(answer: Any) -> str | None:
    """The refusal code of an object's answer, or None when it is not a refusal."""
    return answer.get("refused") if isinstance(answer, dict) else None
