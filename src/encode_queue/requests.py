"""Bodies of the encode queue's routes, validated before they reach the queue's object."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictStr, Tag, field_validator

from bounds import anchored, integer
from encode_queue import policy


def _text(max_chars: int) -> Any:
    """A string of 1..max_chars characters, none of them a control character."""
    return Annotated[StrictStr, Field(min_length=1, max_length=max_chars,
                                      pattern=anchored(rf"[^\x00-\x1f\x7f]{{1,{max_chars}}}"))]


class EnqueueItem(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently dropped
    file_name: _text(policy.MAX_FILE_NAME)
    crf: _text(policy.MAX_CRF) | integer(ge=0, le=63) | None = Field(
        None, description="Kept as a string; an integer 0-63 is stored as its decimal string")
    preset: _text(policy.MAX_PRESET) | None = None
    max_attempts: integer(ge=1, le=policy.MAX_MAX_ATTEMPTS) = policy.DEFAULT_MAX_ATTEMPTS
    priority: integer(ge=policy.MIN_PRIORITY, le=policy.MAX_PRIORITY) = Field(
        policy.DEFAULT_PRIORITY, description=(
            f"{policy.MIN_PRIORITY}-{policy.MAX_PRIORITY}, higher first: claims take the lowest "
            "created time − priority × STEP (60 s by default), so a job passes jobs up to priority × STEP "
            "older than it, and a priority-0 job ages to the front"))

    @field_validator("crf", mode="after")
    @classmethod
    def _crf_as_text(cls, value: str | int | None) -> str | None:
        return None if value is None else str(value)


def _one_or_many(value: Any) -> str:
    return "many" if isinstance(value, list) else "one"


# The discriminator picks the branch by the body's JSON type, so a bad field is reported once, for
# the shape that was sent, instead of once per possible shape. The batch size is checked by the
# route (413 `too_many_jobs`, not 422), so the schema states maxItems for documentation only.
EnqueueBody = Annotated[
    Annotated[EnqueueItem, Tag("one")]
    | Annotated[list[EnqueueItem], Tag("many"), Field(min_length=1, json_schema_extra={"maxItems": policy.MAX_BATCH})],
    Discriminator(_one_or_many),
]


class FailBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: _text(policy.MAX_ERROR_CHARS) = Field(description="Why the attempt failed (kept as the row's `error`)")
    retry_in_s: integer(ge=0, le=policy.MAX_RETRY_IN_S) | None = Field(
        None, description="Seconds before the job may be claimed again; default: backoff 5 s × 2^(attempts−1), ≤ 300 s")
