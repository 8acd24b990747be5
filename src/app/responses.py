"""The documented error answers: one schema for every error, one sentence per status code.

Each route names the statuses it can answer, `responses=errors(400, 401, ...)`, with notes for
what is particular to it (e.g. `input_not_found`). Anything a schema cannot express is said in
these descriptions, so /openapi.json lists every answer a client can get.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import bounds


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error: a sentence, a stable snake_case code, and for validation errors the fields."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})
    error: str = Field(description="A human sentence")
    code: str = Field(description="A stable snake_case code")
    details: list[FieldError] | None = Field(None, description="Validation errors: pydantic's field errors")


JSON_BODY_400 = (f"`invalid_json` (not UTF-8 JSON, or NaN/Infinity), `json_too_deep` (arrays/objects nested deeper "
                 f"than {bounds.MAX_JSON_DEPTH}), `number_out_of_range` (a number outside ±{bounds.MAX_INT})")
INVALID_USER_ID = "`invalid_user_id` (X-User-Id is not 1-64 of A-Z a-z 0-9 _ -)"
_USER_400 = f"{INVALID_USER_ID}, `missing_user_id` (a server key without X-User-Id)"
_USER_403 = "`queue_token_not_allowed`: a queue token, which only the encode queue (/api/jobs) accepts"

DESCRIPTIONS = {
    400: "Bad request",
    401: "`unauthorized`: no credential, an invalid one, or more than one (send exactly one of X-API-Key, "
         "Authorization)",
    403: "`user_mismatch`: a user token with an X-User-Id naming someone else",
    404: "`not_found`",
    409: "Conflict",
    413: f"`payload_too_large`: a JSON body over {bounds.JSON_BODY_LIMIT} bytes",
    415: "`unsupported_media_type`: a body whose Content-Type is not JSON",
    422: "`validation_error`: the body or a parameter fails its schema; `details` lists the fields",
    500: "`config_error` (a secret this route needs is not set; the variable is named) or `internal_error`",
    503: "Unavailable for now; try again later",
}


def errors(*statuses: int, notes: dict[int, str] | None = None, json_body: bool = False,
           user_scoped: bool = False) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each error status with the error schema and what it means there.

    `json_body` adds the JSON-body answers (400 codes, 413, 415); `user_scoped` the X-User-Id 400s
    and the 403 of a queue token (a user route: it needs a user).
    """
    wanted = set(statuses) | ({400, 413, 415} if json_body else set()) | ({400, 403} if user_scoped else set())
    notes = notes or {}
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted(wanted):
        parts = [DESCRIPTIONS[status]]
        if status == 400:
            parts += [JSON_BODY_400] if json_body else []
            parts += [_USER_400] if user_scoped else []
        if status == 403 and user_scoped:
            parts.append(_USER_403)
        if status in notes:
            parts.append(notes[status])
        out[status] = {"model": ErrorBody, "description": "; ".join(parts)}
    return out
