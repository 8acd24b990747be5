"""`outbound.first_line`: the one way an error becomes a message, a log line or a job's error field."""

from __future__ import annotations

from outbound import ERROR_LINE_CHARS, TransportError, first_line


def test_the_message_when_there_is_one():
    message = "POST https://x/run failed: timed out"
    assert first_line(TransportError(message)) == message


def test_no_message_is_the_type_name():
    assert first_line(TimeoutError()) == "TimeoutError"
    assert first_line(TransportError("  \n\t ")) == "TransportError"  # whitespace only counts as none


def test_only_the_first_line_of_a_multi_line_message():
    exc = RuntimeError("\n  Error: connection refused\n    at fetch (worker.js:1:1)\n    at run")
    assert first_line(exc) == "Error: connection refused"


def test_a_long_line_is_cut_to_the_limit():
    line = first_line(ValueError("x" * 10_000 + "\nsecond"))
    assert line == "x" * ERROR_LINE_CHARS


def test_a_line_at_the_limit_is_whole():
    assert first_line(ValueError("y" * ERROR_LINE_CHARS)) == "y" * ERROR_LINE_CHARS
