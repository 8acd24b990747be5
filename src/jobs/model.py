"""The export job record and the shapes it is shown in (status body, WebSocket messages)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

from clock import iso_ms
from jobs.followups import DONE, FollowUp

PENDING, PROCESSING, COMPLETE, ERROR, CANCELLED = "pending", "processing", "complete", "error", "cancelled"
EXPIRED, TIMED_OUT = "expired", "timed_out"  # no GPU took it in time; it ran longer than allowed
QUEUED = "queued"  # waiting for one of the endpoint's slots (jobs/admission.py): not yet sent to RunPod
STATUSES = (QUEUED, PENDING, PROCESSING, COMPLETE, ERROR, CANCELLED, EXPIRED, TIMED_OUT)
TERMINAL_STATUSES = (COMPLETE, ERROR, CANCELLED, EXPIRED, TIMED_OUT)
TERMINAL = frozenset(TERMINAL_STATUSES)
RETRYABLE = frozenset({ERROR, CANCELLED, EXPIRED, TIMED_OUT})  # what `POST .../retry` runs again
_WITH_REASON = frozenset({ERROR, EXPIRED, TIMED_OUT})  # statuses whose body says why in `error`


def output_key_for(job_type: str, job_id: str) -> str:
    return f"final_videos/{job_type}_{job_id}.mp4"


def output_url_for(output_key: str) -> str:
    """Where a client gets a download URL for the output (with its own credentials)."""
    return f"/api/storage/presigned-url?key={quote(output_key, safe='')}"


@dataclass
class JobRecord:
    job_id: str
    user_id: str
    type: str
    project_id: int
    input_key: str
    output_key: str
    params_json: str
    base_url: str
    status: str = PENDING
    progress: int = 0
    message: str | None = None
    error: str | None = None
    runpod_id: str | None = None
    created_ms: int = 0
    updated_ms: int = 0
    started_ms: int | None = None
    completed_ms: int | None = None
    last_signal_ms: int = 0  # last callback, poll or submission: the watchdog measures stalls from here
    submit_attempts: int = 0
    next_submit_ms: int = 0
    submit_waiting: int = 0  # a submission failed and is being retried (the status says so)
    # GPU usage of the current attempt as RunPod reported it (jobs/usage.py), None until it does.
    queue_ms: int | None = None
    execution_ms: int | None = None
    cost_micro_usd: int | None = None  # millionths of a dollar, at the price of when it was reported
    # Attempts (jobs/attempts.py): the current one's number and start, when a GPU began running it,
    # the earlier ones as JSON, and their usage summed (so the job's total is two additions, and SQL sums it).
    attempt: int = 1
    attempt_ms: int = 0  # 0: the first attempt, begun at `created_ms`
    running_ms: int | None = None
    attempts_json: str = "[]"
    prior_queue_ms: int | None = None
    prior_execution_ms: int | None = None
    prior_cost_micro_usd: int | None = None
    # Deadlines (jobs/deadlines.py), fixed at the start: 0 for records older than them (the settings' then).
    queue_ttl_s: int = 0
    execution_timeout_s: int = 0
    # Where the job's events go (webhooks/): a URL, and which events (comma-separated), or none.
    webhook_url: str | None = None
    webhook_events: str = ""
    # A follow-up the alarm owes (jobs/followups.py): RunPod's cancel, of `cancel_runpod_id` when an
    # earlier attempt's (a retry came before the cancel went out), else of `runpod_id`.
    cancel: FollowUp = field(default=DONE)
    cancel_runpod_id: str | None = None
    # The user's database in R2 and the usage ledger are each owed this job's record (`owe_records`: when it
    # is created, when it ends, when its final usage comes). Each mark is cleared by its own write
    # (durable_objects/user_db_sync.py), so one store that is down never holds up the other.
    db_pending: int = 0
    ledger_pending: int = 0
    # Scheduling (jobs/admission.py): the start's priority (0-9), the job's place in the scheduler's turn
    # order while queued, and what the scheduler is owed: an ask for the current attempt's slot (`slot`),
    # and the release of the slots of every attempt below `release_below` (`release`).
    priority: int = 0
    queue_position: int | None = None
    slot: FollowUp = field(default=DONE)
    release: FollowUp = field(default=DONE)
    release_below: int = 0
    version: int = 0  # bumped on every save: a write clears the mark of the version it wrote, no newer one
    seq: int = 0  # the number of the job's last event (jobs/events.py), stored with the change that sent it

    def owe_records(self) -> None:
        """The user's database and the usage ledger are owed this job's state."""
        self.db_pending = self.ledger_pending = 1

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def began_ms(self) -> int:
        """When the current attempt began."""
        return self.attempt_ms or self.created_ms

    def earlier_attempts(self) -> list[dict]:
        return json.loads(self.attempts_json)

    def usage_total(self) -> tuple[int | None, int | None, int | None]:
        """Queue ms, execution ms and cost over every attempt; None where none was ever reported."""
        return (_add(self.prior_queue_ms, self.queue_ms), _add(self.prior_execution_ms, self.execution_ms),
                _add(self.prior_cost_micro_usd, self.cost_micro_usd))

    def current_attempt(self) -> dict:
        """The current attempt as `attempts` entries are stored (jobs/attempts.py archives it so)."""
        return {"attempt": self.attempt, "runpod_id": self.runpod_id, "started_ms": self.began_ms,
                "running_ms": self.running_ms, "ended_ms": self.completed_ms,
                "outcome": self.status if self.terminal else None, "error": self.error,
                "queue_ms": self.queue_ms, "execution_ms": self.execution_ms, "cost_micro_usd": self.cost_micro_usd}

    def db_record(self) -> dict:
        """What the user's database records (storage/user_db.py): the status body, the RunPod id and the output key."""
        return {**self.status_body(), "runpod_job_id": self.runpod_id, "output_key": self.output_key}

    def _outcome_fields(self) -> dict:
        """What both the status body and the status message show beyond status and progress."""
        fields: dict = {}
        if self.status == QUEUED and self.queue_position is not None:
            fields["queue_position"] = self.queue_position
        if self.message:
            fields["message"] = self.message
        if self.status == COMPLETE:
            fields["output_key"] = self.output_key
            fields["output_url"] = output_url_for(self.output_key)
        if self.status in _WITH_REASON:
            fields["error"] = self.error or "Job failed"
        return fields

    def status_body(self) -> dict:
        """`GET /api/export/status/{id}`: optional fields only where API.md says they appear."""
        body: dict = {"job_id": self.job_id, "type": self.type, "status": self.status, "progress": self.progress,
                      "project_id": self.project_id, "input_key": self.input_key,
                      "created_at": iso_ms(self.created_ms), "updated_at": iso_ms(self.updated_ms),
                      **self._outcome_fields()}
        if self.started_ms is not None:
            body["started_at"] = iso_ms(self.started_ms)
        if self.completed_ms is not None:
            body["completed_at"] = iso_ms(self.completed_ms)
        if self.running_ms is not None:
            body["running_at"] = iso_ms(self.running_ms)
        body["usage"] = usage_body(*self.usage_total())
        body["attempt"] = self.attempt
        body["priority"] = self.priority
        body["attempts"] = [attempt_body(a) for a in (*self.earlier_attempts(), self.current_attempt())]
        if self.queue_ttl_s:
            body["queue_ttl_s"], body["execution_timeout_s"] = self.queue_ttl_s, self.execution_timeout_s
        body["seq"] = self.seq
        return body

    def status_message(self) -> dict:
        """The WebSocket message a client gets on connect: the job as of its last event (`seq`)."""
        return {"type": "status", "job_id": self.job_id, "status": self.status, "progress": self.progress,
                "attempt": self.attempt, **self._outcome_fields(), "seq": self.seq}


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


def usage_body(queue_ms: int | None, execution_ms: int | None, cost_micro_usd: int | None) -> dict:
    return {"queue_ms": queue_ms, "execution_ms": execution_ms,
            "cost_usd": None if cost_micro_usd is None else cost_micro_usd / 1_000_000}


def attempt_body(a: dict) -> dict:
    """A stored attempt as the status body's `attempts` shows it."""
    body = {"attempt": a["attempt"], "runpod_id": a["runpod_id"], "started_at": iso_ms(a["started_ms"]),
            "running_at": iso_ms(a["running_ms"]), "ended_at": iso_ms(a["ended_ms"]), "outcome": a["outcome"],
            "error": a["error"], "usage": usage_body(a["queue_ms"], a["execution_ms"], a["cost_micro_usd"])}
    return body
