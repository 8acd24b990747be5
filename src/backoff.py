"""Exponential backoff, the one rule every retry in the service waits by: RunPod submissions, a job's
follow-ups, the user's database writes, the encode queue's failed jobs."""

from __future__ import annotations


def backoff_s(base_s: float, attempt: int, cap_s: float) -> float:
    """base, 2·base, 4·base, … capped at `cap_s`; `attempt` counts from 1 (0 or less is the first)."""
    return min(cap_s, base_s * 2 ** min(max(0, attempt - 1), 32))


def backoff_ms(base_s: float, attempt: int, cap_s: float) -> int:
    """`backoff_s` in whole milliseconds, as the Durable Objects' clocks count."""
    return int(backoff_s(base_s, attempt, cap_s) * 1000)
