"""Request bodies of `POST /api/export/{type}/start`, validated per export type.

Coordinates are normalised: x and widths are fractions of the source frame's width, y and heights of
its height (0..1 covers the frame at any resolution; docs/api.md, "Export params"). A crop window must
lie inside the frame, checked here so a bad window fails in milliseconds, not on a GPU.

Unknown fields inside `params` are kept for the GPU worker (it may learn new options before the
Worker does), but every field named here is type-checked; numbers are strict about bools, finite,
and within JavaScript's safe range (`bounds`). Unknown fields are held to the JSON body rules
(`bounds.parse_json`): no NaN/Infinity, no unsafe integers, bounded nesting.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bounds import anchored, integer, number
from jobs.deadlines import EXECUTION_TIMEOUT_BOUNDS_S, QUEUE_TTL_BOUNDS_S
from scheduling.policy import PRIORITY_MAX, PRIORITY_MIN
from webhooks import policy as webhook_policy

EXPORT_TYPES = ("overlay", "framing", "annotate")
NonNeg = number(ge=0)
Fraction = number(ge=0, le=1)  # a normalised coordinate
Extent = number(gt=0, le=1)  # a normalised size
Frame = integer(ge=0)
EDGE_SLACK = 1e-6  # x + width computed by an editor may be 1.0000000000000002


class _Params(BaseModel):
    # Unknown fields are any JSON within the body rules; /openapi.json defines BoundedJson (app.openapi).
    model_config = ConfigDict(extra="allow",
                              json_schema_extra={"additionalProperties": {"$ref": "#/components/schemas/BoundedJson"}})


class HighlightRegion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_frame: Frame
    end_frame: Frame = Field(description="Not before start_frame (422 otherwise)")
    x: Fraction = Field(description="Ellipse centre, fraction of the frame's width (0-1)")
    y: Fraction = Field(description="Ellipse centre, fraction of the frame's height (0-1)")
    radius_x: Extent = Field(description="Fraction of the frame's width")
    radius_y: Extent = Field(description="Fraction of the frame's height")
    opacity: number(ge=0, le=1) | None = None
    color: Annotated[str, Field(pattern=anchored(r"#[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?"))] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> HighlightRegion:
        if self.end_frame < self.start_frame:
            raise ValueError("end_frame must not be before start_frame")
        return self


class OverlayParams(_Params):
    highlight_regions: Annotated[list[HighlightRegion], Field(max_length=10_000)]
    effect_type: Literal["blur", "dim", "brighten", "spotlight", "outline", "none"]


class CropKeyframe(BaseModel):
    # Exactly one of frame and time is a number (the other absent or null), as the schema states.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["frame"], "properties": {"frame": {"type": "integer"}}},
        {"required": ["time"], "properties": {"time": {"type": "number"}}}]})
    frame: Frame | None = None
    time: NonNeg | None = None
    x: Fraction = Field(description="Window's left edge, fraction of the frame's width (0-1)")
    y: Fraction = Field(description="Window's top edge, fraction of the frame's height (0-1)")
    width: Extent = Field(description="Fraction of the frame's width; x + width <= 1 (422 otherwise)")
    height: Extent = Field(description="Fraction of the frame's height; y + height <= 1 (422 otherwise)")

    @model_validator(mode="after")
    def _has_position(self) -> CropKeyframe:
        if (self.frame is None) == (self.time is None):
            raise ValueError("each keyframe needs exactly one of frame or time")
        if self.x + self.width > 1 + EDGE_SLACK or self.y + self.height > 1 + EDGE_SLACK:
            raise ValueError("the crop window must lie inside the frame: x + width and y + height at most 1")
        return self


class FramingParams(_Params):
    crop_keyframes: Annotated[list[CropKeyframe], Field(min_length=1, max_length=100_000)]
    output_width: integer(ge=16, le=7680) | None = None
    output_height: integer(ge=16, le=7680) | None = None
    fps: number(gt=0, le=240) | None = None


class AnnotateClip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_time: NonNeg
    end_time: NonNeg = Field(description="After start_time (422 otherwise)")
    name: Annotated[str, Field(max_length=500)] | None = None
    tags: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=100)] | None = None
    rating: integer(ge=0, le=5) | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AnnotateClip:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


class AnnotateParams(_Params):
    clips: Annotated[list[AnnotateClip], Field(min_length=1, max_length=10_000)]


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: integer(ge=0) = Field(description="The editor's project id")
    input_key: str = Field(min_length=1, max_length=900, description="Relative key, e.g. working_videos/x.mp4")
    webhook: str | None = Field(None, max_length=webhook_policy.MAX_URL_CHARS, description=(
        "Where the job's events are POSTed (Standard Webhooks signed); the deployment's WEBHOOK_URL when absent. "
        "https on port 443 only outside development, and only to hosts in WEBHOOK_HOSTS (400 `webhook_not_allowed`)"))
    webhook_events: Annotated[list[Literal[webhook_policy.EVENTS]], Field(min_length=1, max_length=4)] | None = Field(  # type: ignore[valid-type]
        None, description="Any of started, progress (coalesced), retrying, completed (every terminal state); "
                          "default completed")
    queue_ttl_s: integer(ge=QUEUE_TTL_BOUNDS_S[0], le=QUEUE_TTL_BOUNDS_S[1]) | None = Field(None, description=(
        "How long an attempt may wait for a GPU before it ends `expired` (RunPod's policy.ttl is this plus "
        "execution_timeout_s); the deployment's QUEUE_TTL_S when absent"))
    execution_timeout_s: integer(ge=EXECUTION_TIMEOUT_BOUNDS_S[0], le=EXECUTION_TIMEOUT_BOUNDS_S[1]) | None = Field(
        None, description=("How long an attempt may run on a GPU before it ends `timed_out` (RunPod's "
                           "policy.executionTimeout); the deployment's EXECUTION_TIMEOUT_S when absent"))
    priority: integer(ge=PRIORITY_MIN, le=PRIORITY_MAX) | None = Field(None, description=(
        "Order among the caller's own queued jobs, 0 (default) to 9 (first); each level is worth PRIORITY_STEP_S "
        "of waiting, so a low priority job still runs behind a stream of higher ones (docs/api.md \"Scheduling\")"))


class OverlayStart(StartBody):
    params: OverlayParams


class FramingStart(StartBody):
    params: FramingParams


class AnnotateStart(StartBody):
    params: AnnotateParams


START_MODELS: dict[str, type[StartBody]] = {"overlay": OverlayStart, "framing": FramingStart, "annotate": AnnotateStart}
