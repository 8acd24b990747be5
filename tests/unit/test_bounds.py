"""The input bounds (`bounds`): JSON bodies, numeric strings, ids, and the pydantic field types."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import BaseModel, ValidationError

import bounds
from bounds import MAX_INT, MAX_JSON_DEPTH, JsonRejected, parse_json, read_decimal


@pytest.mark.parametrize(("raw", "code"), [
    ('{"a": NaN}', "invalid_json"), ("[Infinity]", "invalid_json"), ('{"x": -Infinity}', "invalid_json"),
    (str(MAX_INT + 1), "number_out_of_range"), (str(-MAX_INT - 1), "number_out_of_range"),
    ("9" * 5000, "number_out_of_range"), ("1e400", "number_out_of_range"), ("[1e300]", "number_out_of_range"),
    ("9007199254740992.0", "number_out_of_range"),
    ("9007199254740991", "number_out_of_range"),  # JS's MAX_SAFE_INTEGER: the runtime makes it a BigInt
    ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "json_too_deep"),
    ('{"a":' * 40 + "1" + "}" * 40, "json_too_deep"),
    ("[" * 200_000, "json_too_deep"),  # unbalanced and far past any recursion limit: refused, no RecursionError
    (b"\xff\xfe{}", "invalid_json"), ("", "invalid_json"), ("{not json", "invalid_json"), ("[1,]", "invalid_json"),
])
def test_bodies_refused(raw, code):
    with pytest.raises(JsonRejected) as exc:
        parse_json(raw if isinstance(raw, bytes) else raw.encode())
    assert exc.value.code == code


@pytest.mark.parametrize("raw", [
    str(MAX_INT), str(-MAX_INT), "9007199254740990.0", "5e-324", "-0.0", "[]", "{}", '"x"', "null",
    "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH,
    json.dumps({"s": "[" * 1000 + '\\"{' * 100}),  # brackets inside strings do not nest
    json.dumps([[] for _ in range(1000)]),
])
def test_bodies_accepted(raw):
    assert parse_json(raw.encode()) == json.loads(raw)


def test_a_large_body_of_brackets_is_checked_quickly():
    body = ("[" + ",".join(["[]"] * 300_000) + "]").encode()
    started = time.perf_counter()
    assert not bounds.nests_too_deep(body)
    assert time.perf_counter() - started < 2  # ~0.1 s on CPython; the point is linear, not recursive


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("0001", 1), ("1700000000", 1700000000), (str(MAX_INT), MAX_INT),
    (str(MAX_INT + 1), MAX_INT + 1), ("9" * 10_000, MAX_INT + 1), ("0" * 50 + "7", 7),
    ("", None), ("-1", None), ("+1", None), (" 1", None), ("1 ", None), ("1e3", None), ("0x1", None),
    ("\u0661", None), ("\u00b2", None), ("\uff11", None), (None, None), (12, None),
])
def test_read_decimal(text, value):
    assert read_decimal(text) == value


@pytest.mark.parametrize("check", [bounds.is_user_id, bounds.is_job_id])
def test_ids_are_matched_whole(check):
    assert check("alice") and check("a" * 64) and check("A-b_9")
    for bad in ("alice\n", "\nalice", "al ice", "a" * 65, "", "ali/ce", "alïce", None, 5):
        assert not check(bad), bad


class _Fields(BaseModel):
    count: bounds.integer(ge=0, le=10)
    big: bounds.integer() = 0
    ratio: bounds.number(gt=0, le=1) = 0.5


def test_integer_fields_take_integral_numbers_only():
    assert _Fields(count=3.0).count == 3 and isinstance(_Fields(count=3.0).count, int)
    assert _Fields(count=0, big=-MAX_INT).big == -MAX_INT
    for bad in (True, "3", 3.5, 11, -1, float("nan")):
        with pytest.raises(ValidationError):
            _Fields(count=bad)
    with pytest.raises(ValidationError):
        _Fields(count=1, big=MAX_INT + 1)


def test_number_fields_are_finite_and_bounded():
    assert _Fields(count=1, ratio=1).ratio == 1
    for bad in (0, float("nan"), float("inf"), True, "0.5", 1.5):
        with pytest.raises(ValidationError):
            _Fields(count=1, ratio=bad)
