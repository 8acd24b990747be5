"""The export job record and the shapes it is shown in (status body, WebSocket messages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from clock import iso_ms
from jobs.followups import DONE, FollowUp

PENDING, PROCESSING, COMPLETE, ERROR, CANCELLED = "pending", "processing", "complete", "error", "cancelled"
STATUSES = (PENDING, PROCESSING, COMPLETE, ERROR, CANCELLED)
TERMINAL = frozenset({COMPLETE, ERROR, CANCELLED})


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
    # GPU usage as RunPod reported it (jobs/usage.py), None until it does.
    queue_ms: int | None = None
    execution_ms: int | None = None
    cost_micro_usd: int | None = None  # millionths of a dollar, at the price of when it was reported
    # Where the job's events go (webhooks/): a URL, and which events (comma-separated), or none.
    webhook_url: str | None = None
    webhook_events: str = ""
    # A follow-up the alarm owes (jobs/followups.py): RunPod's cancel.
    cancel: FollowUp = field(default=DONE)
    # The user's database in R2 is owed this job's record: set when it is created and when it ends
    # (durable_objects/user_db_sync.py writes the owed records of a user in one go).
    db_pending: int = 0
    version: int = 0  # bumped on every save: the database sync clears `db_pending` of the version it wrote

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def db_record(self) -> dict:
        """What the user's database records (storage/user_db.py): the status body, the RunPod id and the output key."""
        return {**self.status_body(), "runpod_job_id": self.runpod_id, "output_key": self.output_key}

    def _outcome_fields(self) -> dict:
        """What both the status body and the status message show beyond status and progress."""
        fields: dict = {}
        if self.message:
            fields["message"] = self.message
        if self.status == COMPLETE:
            fields["output_key"] = self.output_key
            fields["output_url"] = output_url_for(self.output_key)
        if self.status == ERROR:
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
        body["usage"] = {"queue_ms": self.queue_ms, "execution_ms": self.execution_ms,
                         "cost_usd": None if self.cost_micro_usd is None else self.cost_micro_usd / 1_000_000}
        return body

    def status_message(self) -> dict:
        """The WebSocket message a client gets on connect."""
        return {"type": "status", "job_id": self.job_id, "status": self.status, "progress": self.progress,
                **self._outcome_fields()}
