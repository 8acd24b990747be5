"""Request bodies of `POST /api/export/{type}/start`, validated per export type.

Unknown fields inside `params` are kept for the GPU worker (it may learn new options before the
Worker does), but every field named here is type-checked; numbers are strict about bools.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

EXPORT_TYPES = ("overlay", "framing", "annotate")
Number = StrictInt | StrictFloat
NonNeg = Annotated[Number, Field(ge=0)]
Positive = Annotated[Number, Field(gt=0)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="allow")


class HighlightRegion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_frame: Annotated[StrictInt, Field(ge=0)]
    end_frame: Annotated[StrictInt, Field(ge=0)]
    x: Number
    y: Number
    radius_x: Positive
    radius_y: Positive
    opacity: Annotated[Number, Field(ge=0, le=1)] | None = None
    color: Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> HighlightRegion:
        if self.end_frame < self.start_frame:
            raise ValueError("end_frame must not be before start_frame")
        return self


class OverlayParams(_Params):
    highlight_regions: Annotated[list[HighlightRegion], Field(max_length=10_000)]
    effect_type: Literal["blur", "dim", "brighten", "spotlight", "outline", "none"]


class CropKeyframe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    frame: Annotated[StrictInt, Field(ge=0)] | None = None
    time: NonNeg | None = None
    x: NonNeg
    y: NonNeg
    width: Positive
    height: Positive

    @model_validator(mode="after")
    def _has_position(self) -> CropKeyframe:
        if (self.frame is None) == (self.time is None):
            raise ValueError("each keyframe needs exactly one of frame or time")
        return self


class FramingParams(_Params):
    crop_keyframes: Annotated[list[CropKeyframe], Field(min_length=1, max_length=100_000)]
    output_width: Annotated[StrictInt, Field(ge=16, le=7680)] | None = None
    output_height: Annotated[StrictInt, Field(ge=16, le=7680)] | None = None
    fps: Annotated[Number, Field(gt=0, le=240)] | None = None


class AnnotateClip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_time: NonNeg
    end_time: NonNeg
    name: Annotated[str, Field(max_length=500)] | None = None
    tags: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=100)] | None = None
    rating: Annotated[StrictInt, Field(ge=0, le=5)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AnnotateClip:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


class AnnotateParams(_Params):
    clips: Annotated[list[AnnotateClip], Field(min_length=1, max_length=10_000)]


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: StrictInt = Field(ge=0, description="The editor's project id")
    input_key: str = Field(min_length=1, max_length=900, description="Relative key, e.g. working_videos/x.mp4")


class OverlayStart(StartBody):
    params: OverlayParams


class FramingStart(StartBody):
    params: FramingParams


class AnnotateStart(StartBody):
    params: AnnotateParams


START_MODELS: dict[str, type[StartBody]] = {"overlay": OverlayStart, "framing": FramingStart, "annotate": AnnotateStart}
