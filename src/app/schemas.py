"""The documented shapes of successful answers (for /openapi.json; routes return plain dicts).

Optional fields are absent rather than null where API.md says they appear only sometimes; the
models say so with `None` defaults, and extra fields are allowed so a field added later is no
breaking change for clients that validate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jobs.model import STATUSES, TERMINAL_STATUSES
from jobs.params import EXPORT_TYPES


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})


class Health(_Open):
    status: Literal["ok"]
    env: str


class Usage(_Open):
    """A job's GPU usage as RunPod reported it; null until it does."""

    queue_ms: int | None = Field(description="RunPod's delayTime: waiting for a GPU")
    execution_ms: int | None = Field(description="RunPod's executionTime: on a GPU")
    cost_usd: float | None = Field(description="execution_ms × GPU_PRICE_PER_S; null when no price is set")


class Attempt(_Open):
    """One run of a job at RunPod."""

    attempt: int = Field(ge=1)
    runpod_id: str | None
    started_at: str = Field(description="When the attempt began (the start, or its retry)")
    running_at: str | None = Field(description="When a GPU began running it")
    ended_at: str | None
    outcome: Literal[TERMINAL_STATUSES] | None = Field(description="null while it runs")  # type: ignore[valid-type]
    error: str | None
    usage: Usage


class JobStatus(_Open):
    job_id: str
    type: Literal[EXPORT_TYPES]  # type: ignore[valid-type]
    status: Literal[STATUSES]  # type: ignore[valid-type]
    progress: int = Field(ge=0, le=100)
    project_id: int
    input_key: str
    message: str | None = None
    output_key: str | None = Field(None, description="Only when complete")
    output_url: str | None = Field(None, description="Only when complete: /api/storage/presigned-url?key=...")
    error: str | None = Field(None, description="Only when status is error, expired or timed_out: why")
    created_at: str
    updated_at: str
    started_at: str | None = Field(None, description="When RunPod took the current attempt")
    running_at: str | None = Field(None, description="When a GPU began running the current attempt")
    completed_at: str | None = None
    usage: Usage = Field(description="Over every attempt")
    attempt: int = Field(ge=1, description="The current attempt's number")
    attempts: list[Attempt] = Field(description="Every attempt, the current one last")
    priority: int | None = Field(None, ge=0, le=9, description="The start's priority among the user's queued jobs")
    queue_position: int | None = Field(None, ge=1, description=(
        "Only while queued: the job's place in the scheduler's turn order (docs/api.md \"Scheduling\")"))
    queue_ttl_s: int | None = Field(None, description="How long an attempt may wait for a GPU (then `expired`)")
    execution_timeout_s: int | None = Field(None, description="How long an attempt may run (then `timed_out`)")
    seq: int = Field(ge=0, description="The number of the job's last event (docs/api.md \"Live events\"): what "
                                       "`after_seq`, `?since=` and `Last-Event-ID` take")


class StartAccepted(_Open):
    job_id: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    queue_position: int | None = Field(None, ge=1, description="Only when `queued`: its place in the turn order")
    websocket_url: str
    status_url: str
    job: JobStatus


class SchedulerLimits(_Open):
    per_user: int = Field(description="MAX_ACTIVE_PER_USER")
    total: int = Field(description="MAX_ACTIVE_TOTAL: the endpoint's GPUs")


class SchedulerSlot(_Open):
    user_id: str
    job_id: str
    attempt: int = Field(ge=1)
    state: Literal["offered", "held"] = Field(description="offered: granted, being told to the user's jobs")
    lease_until: str = Field(description="When the slot is freed at the latest, released or not")


class SchedulerState(_Open):
    limits: SchedulerLimits
    slots_in_use: int
    slots: list[SchedulerSlot]
    waiting: dict[str, int] = Field(description="Queued jobs per user (users with none are absent)")


class JobPage(_Open):
    jobs: list[JobStatus]
    next_cursor: str | None


class UsageTotals(_Open):
    jobs: int
    gpu_seconds: float
    cost_usd: float


class UsageReport(_Open):
    from_: str = Field(alias="from")
    to: str
    totals: UsageTotals
    by_type: dict[str, UsageTotals]
    by_status: dict[str, UsageTotals]


class UserUsage(UsageTotals):
    user_id: str


class UsageRanking(_Open):
    from_: str = Field(alias="from")
    to: str
    users: list[UserUsage]


class DeliveryAttempt(_Open):
    attempt: int = Field(ge=1)
    at: str = Field(description="When it was sent, ISO 8601 UTC")
    duration_ms: int
    status: int | None = Field(description="The receiver's HTTP status; null when no answer came")
    error: str | None = Field(description="Why it failed without an answer, or a redirect (not followed)")
    response_excerpt: str | None = Field(description="The first 200 characters of the answer")


class Delivery(_Open):
    id: str = Field(description="The `webhook-id` of every attempt of this delivery")
    event: Literal["started", "progress", "completed"]
    url: str
    state: Literal["pending", "delivered", "failed", "superseded"]
    created_at: str
    next_attempt_at: str | None
    attempts: list[DeliveryAttempt]


class DeliveryLog(_Open):
    deliveries: list[Delivery]


class Redelivering(_Open):
    delivery_id: str
    state: Literal["pending"]


class CallbackReceived(_Open):
    received: Literal[True]
    status: Literal[STATUSES]  # type: ignore[valid-type]
    progress: int = Field(ge=0, le=100)
    ignored: Literal["terminal", "duplicate", "stale"] | None = None


class FinalVideo(_Open):
    id: int
    project_id: int | None
    game_id: int | None
    name: str
    video_path: str
    thumbnail_path: str | None
    source_type: str
    duration: float | None
    file_size: int | None
    created_at: str | None
    export_job_id: str | None


class Downloads(_Open):
    downloads: list[FinalVideo]


class QueueJob(_Open):
    """A row of the encode queue (docs/api.md, "Encode queue"); times are unix seconds."""

    id: int
    file_name: str
    crf: str | None
    preset: str | None
    status: Literal["pending", "in_progress", "finished", "dead"]
    created_at: int
    started: int | None
    finished: int | None
    attempts: int
    max_attempts: int
    priority: int = Field(description="0-9, higher first, with aging (docs/api.md \"Encode queue\")")
    lease_id: str | None
    lease_s: int | None
    lease_expires_at: int | None
    available_at: int
    error: str | None


class QueueClaimed(_Open):
    """A claim with `max`: the jobs handed out, 1 to `max` of them, each with its own lease."""

    jobs: list[QueueJob] = Field(min_length=1)


class QueueStats(_Open):
    pending: int
    in_progress: int
    finished: int
    dead: int
    total: int
    waiting: int = Field(description="Claims waiting for a job right now (`wait_s`)")


class QueueJobDeleted(_Open):
    message: Literal["Job deleted successfully"]
