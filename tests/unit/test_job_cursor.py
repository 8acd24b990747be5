"""The job list's cursor: what the index issues comes back; anything else is InvalidCursor."""

from __future__ import annotations

import base64
import json

import pytest

from bounds import MAX_INT
from jobs.cursor import InvalidCursor, decode_cursor, encode_cursor


def raw(value) -> str:
    """A cursor made by hand, encoded as the index encodes its own."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("created_ms", [0, 1_800_000_000_000, MAX_INT, -MAX_INT])
def test_round_trip(created_ms):
    assert decode_cursor(encode_cursor(created_ms, "9f" * 16)) == (created_ms, "9f" * 16)


@pytest.mark.parametrize("created_ms", [MAX_INT + 1, -MAX_INT - 1, 2**63, 10**30,
                                        True, False, 1.5, 1e3, None, "1"])
def test_created_ms_must_be_a_safe_integer(created_ms):
    # The route checks numbers too, but the index binds this into SQL: it must not rely on that.
    with pytest.raises(InvalidCursor):
        decode_cursor(raw([created_ms, "j"]))


@pytest.mark.parametrize("cursor", [
    "", "!!!", raw([1]), raw([1, "j", 2]), raw({"created_ms": 1, "job_id": "j"}), raw([1, 2]),
    raw("[" * 10_000), "W" * 10_000,
    base64.urlsafe_b64encode(b"[" * 10_000 + b"]" * 10_000).decode(),  # deep nesting: no RecursionError
])
def test_anything_else_is_invalid(cursor):
    with pytest.raises(InvalidCursor, match="cursor is not one this API returned"):
        decode_cursor(cursor)
