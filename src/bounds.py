"""The bounds every input is held to, in one place (docs/api.md, "Bounds").

Numbers from clients travel on to JavaScript (the runtime's RPC and SQL bindings, browsers, the
GPU worker's tooling) and to SQLite, so every JSON body is read by `parse_json`, which refuses any
number beyond ±MAX_INT, what JSON does not allow (NaN, Infinity) and nesting deep enough to
exhaust a recursive parser. Numeric strings outside JSON (query values, signed-URL expiries,
headers) are read by `read_decimal`, which checks their length before converting. Patterns are
always matched whole (`re.fullmatch`): `match` with `$` lets a trailing newline through.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictFloat, StrictInt

# The largest integer magnitude any input may carry: JavaScript's safe integers (±(2**53 - 1)) less
# the very largest, which the Workers runtime hands to JavaScript as a BigInt that DO SQL refuses.
MAX_INT = 2**53 - 2
MAX_JSON_DEPTH = 32  # nested arrays/objects in any JSON body; the deepest the API defines is 4
JSON_BODY_LIMIT = 1024 * 1024  # bytes of any JSON body
MAX_UPLOAD_BYTES = 5 * 1024**3  # an upload through a Worker-signed URL: R2's single-PUT limit
MAX_CREDENTIAL_CHARS = 4096  # an API key or a user token (ours are ~200 characters)

USER_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"  # safe as an R2 key prefix
JOB_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"  # ids this service makes are 32 hex characters
HMAC_HEX_PATTERN = r"[0-9A-Fa-f]{64}"  # a hex HMAC-SHA256: callback and signed-URL signatures
_USER_ID = re.compile(USER_ID_PATTERN)
_JOB_ID = re.compile(JOB_ID_PATTERN)
_DIGITS = re.compile(r"[0-9]+")
_SAFE_DIGITS = len(str(MAX_INT))
DECIMAL_PATTERN = rf"[0-9]{{1,{_SAFE_DIGITS}}}"  # what read_decimal reads in full (OpenAPI states it)


def anchored(pattern: str) -> str:
    """The pattern as OpenAPI and pydantic (whose `$` is the end of the text) need it: whole-string."""
    return f"^(?:{pattern})$"


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def is_safe_int(value: object) -> bool:
    """An int (never a bool) within ±MAX_INT."""
    return isinstance(value, int) and not isinstance(value, bool) and -MAX_INT <= value <= MAX_INT


def is_finite_number(value: object) -> bool:
    """An int or float (never a bool) that JSON can carry and JavaScript holds exactly enough."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return is_safe_int(value) if isinstance(value, int) else math.isfinite(value)


def read_decimal(text: object) -> int | None:
    """A string of ASCII digits as an int; None for anything else (signs, spaces, other scripts' digits).

    The length is checked before converting: a value beyond MAX_INT comes back as
    MAX_INT + 1, so callers compare it with their own limit and a 10,000-digit string never
    reaches int().
    """
    if not isinstance(text, str) or _DIGITS.fullmatch(text) is None:
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > _SAFE_DIGITS:
        return MAX_INT + 1
    return min(int(significant), MAX_INT + 1)


# -- JSON bodies ------------------------------------------------------------------------------

class JsonRejected(ValueError):  # noqa: N818 - reads as what it is
    """A body that is not JSON this service accepts; `code` is the API error code (all are 400)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1


def nests_too_deep(data: bytes) -> bool:
    """Whether arrays and objects in the JSON text `data` nest deeper than MAX_JSON_DEPTH, counted
    without parsing (so without recursion). Strings are removed first (their brackets do not count;
    UTF-8 never hides an ASCII byte inside another character), then the running sum of the brackets
    is taken in C, which keeps even a 1 MiB body of brackets to about 0.1 s."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return False  # it cannot nest deeper than it opens
    brackets = _STRINGS.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > MAX_JSON_DEPTH


def _refuse_constant(name: str) -> Any:
    raise JsonRejected(f"Request body is not valid JSON: {name} is not a JSON number", "invalid_json")


def _bounded_float(literal: str) -> float:
    value = float(literal)  # never raises: a literal too large for a double is inf
    if not -MAX_INT <= value <= MAX_INT:
        raise JsonRejected(f"Number {literal[:40]} is outside ±{MAX_INT}", "number_out_of_range")
    return value


def _safe_int(literal: str) -> int:
    value = int(literal) if len(literal.lstrip("-")) <= _SAFE_DIGITS else None
    if value is None or not -MAX_INT <= value <= MAX_INT:
        raise JsonRejected(f"Integer {literal[:40]} is outside ±{MAX_INT}",
                           "number_out_of_range")
    return value


def parse_json(raw: bytes | str) -> Any:
    """The JSON value of a body, or JsonRejected: not UTF-8 JSON, NaN/Infinity, a number outside
    ±MAX_INT (integer or not: no field needs more, and so a schema can state it), or nesting
    deeper than MAX_JSON_DEPTH."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if nests_too_deep(data):
        raise JsonRejected(f"JSON nests deeper than {MAX_JSON_DEPTH} levels", "json_too_deep")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRejected("Request body is not valid JSON: not UTF-8", "invalid_json") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_bounded_float, parse_int=_safe_int)
    except json.JSONDecodeError:
        raise JsonRejected("Request body is not valid JSON", "invalid_json") from None


# -- pydantic field types for bodies and parameters ---------------------------------------------

def _integral(value: object) -> object:
    # JSON has one number type and JSON Schema's "integer" includes 3.0, so an integral float is that
    # integer; bools, strings and fractions still fail the strict check after this.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def integer(ge: int = -MAX_INT, le: int = MAX_INT) -> Any:
    """An integer field within [ge, le] (never beyond the safe range); 3.0 counts, true and "3" do not."""
    return Annotated[StrictInt, Field(ge=max(ge, -MAX_INT), le=min(le, MAX_INT)),
                     BeforeValidator(_integral)]


def number(ge: float | None = None, gt: float | None = None, le: float = MAX_INT) -> Any:
    """A finite number field (int or float, never a bool) within the safe range and the given bounds."""
    low = {"gt": gt} if gt is not None else {"ge": -MAX_INT if ge is None else ge}
    high = min(le, MAX_INT)
    return (Annotated[StrictInt, Field(**low, le=high)]
            | Annotated[StrictFloat, Field(**low, le=high, allow_inf_nan=False)])
