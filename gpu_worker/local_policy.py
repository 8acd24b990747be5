"""A job's execution `policy` as RunPod's cloud API takes it on `POST /run`, for the local endpoint.

`{"ttl"?, "executionTimeout"?, "lowPriority"?}`, times in ms, each optional (null = absent):
- `executionTimeout` (5 s – 7 days): how long the job may run once a worker took it; then TIMED_OUT.
- `ttl` (10 s – 7 days): the job's whole lifetime, counted from its submission. A job still queued
  when it runs out is dropped (RunPod forgets it: its status answers 404); a running one ends TIMED_OUT.
- `lowPriority` (a boolean): accepted and meaningless with one worker.
Anything else — not an object, a value that is not an integer (a boolean, 5000.0, "5000"), one out of
its bounds, an unknown key — is refused (the endpoint answers 400). Without an execution timeout
the endpoint's default applies (GPU_JOB_TIMEOUT_S); without a ttl a queued job waits as long as it takes.
"""

from __future__ import annotations

from dataclasses import dataclass

WEEK_MS = 7 * 24 * 3600 * 1000
BOUNDS_MS = {"ttl": (10_000, WEEK_MS), "executionTimeout": (5_000, WEEK_MS)}
FLAGS = ("lowPriority",)


class PolicyError(ValueError):
    """A policy RunPod would refuse; the message says why."""


@dataclass(frozen=True)
class Policy:
    ttl_ms: int | None = None
    execution_timeout_ms: int | None = None


def parse_policy(raw: object) -> Policy:
    """The policy of a `/run` body (None when it has none); PolicyError when RunPod would refuse it."""
    if raw is None:
        return Policy()
    if not isinstance(raw, dict):
        raise PolicyError("policy must be an object")
    unknown = sorted(set(raw) - set(BOUNDS_MS) - set(FLAGS))
    if unknown:
        raise PolicyError(f"policy: unknown field(s) {', '.join(map(str, unknown))[:200]}; "
                          f"known: {', '.join([*BOUNDS_MS, *FLAGS])}")
    for name in FLAGS:
        if raw.get(name) is not None and not isinstance(raw[name], bool):
            raise PolicyError(f"policy.{name} must be a boolean")
    for name, (low, high) in BOUNDS_MS.items():
        value = raw.get(name)
        if value is not None and (type(value) is not int or not low <= value <= high):
            raise PolicyError(f"policy.{name} must be an integer from {low} to {high} ms")
    return Policy(ttl_ms=raw.get("ttl"), execution_timeout_ms=raw.get("executionTimeout"))


def expires_at(created: float, ttl_ms: int | None) -> float | None:
    """When a job submitted at `created` (epoch s) outlives its ttl; None without one."""
    return None if ttl_ms is None else created + ttl_ms / 1000


def run_deadline(created: float, started: float, ttl_ms: int | None, execution_timeout_ms: int | None,
                 default_timeout_s: float) -> tuple[float, str]:
    """When a job that started at `started` must have ended (epoch s), and the error its TIMED_OUT says:
    its execution timeout (the endpoint's default without one) or its ttl, whichever comes first."""
    timeout_s = default_timeout_s if execution_timeout_ms is None else execution_timeout_ms / 1000
    deadline, reason = started + timeout_s, f"the job ran over its execution timeout ({timeout_s:g} s)"
    expiry = expires_at(created, ttl_ms)
    if expiry is not None and expiry < deadline:
        deadline, reason = expiry, f"the job outlived its ttl ({ttl_ms / 1000:g} s from its submission)"
    return deadline, reason
