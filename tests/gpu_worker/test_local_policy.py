"""RunPod's `policy` as the local endpoint reads it (gpu_worker/local_policy.py): pure rules."""

from __future__ import annotations

import pytest

from gpu_worker.local_policy import WEEK_MS, Policy, PolicyError, parse_policy, run_deadline
from tests.fakes.runpod_server import _policy_refusal


@pytest.mark.parametrize("raw, policy", [
    (None, Policy()),
    ({}, Policy()),
    ({"ttl": 10_000, "executionTimeout": 5000}, Policy(10_000, 5000)),
    ({"ttl": WEEK_MS, "executionTimeout": WEEK_MS, "lowPriority": False}, Policy(WEEK_MS, WEEK_MS)),
    ({"ttl": None, "executionTimeout": None}, Policy()),
])
def test_accepted(raw, policy):
    assert parse_policy(raw) == policy
    assert _policy_refusal(raw) is None  # the test fake of RunPod agrees


@pytest.mark.parametrize("raw", [
    "x", [], 1, {"ttl": 9999}, {"ttl": WEEK_MS + 1}, {"executionTimeout": 4999}, {"executionTimeout": 5000.0},
    {"executionTimeout": "5000"}, {"executionTimeout": True},
])
def test_refused_as_the_fake_refuses(raw):
    with pytest.raises(PolicyError):
        parse_policy(raw)
    assert _policy_refusal(raw) is not None


@pytest.mark.parametrize("raw", [{"timeout": 5000}, {"lowPriority": 1}])
def test_unknown_fields_and_bad_flags_refused(raw):
    with pytest.raises(PolicyError, match="policy"):
        parse_policy(raw)


def test_the_run_ends_at_its_timeout_or_its_ttl_whichever_first():
    assert run_deadline(100.0, 102.0, None, None, 3600) == (3702.0, "the job ran over its execution timeout (3600 s)")
    assert run_deadline(100.0, 102.0, None, 5000, 3600)[0] == 107.0
    assert run_deadline(100.0, 102.0, 60_000, 5000, 3600)[0] == 107.0
    deadline, reason = run_deadline(100.0, 102.0, 10_000, 60_000, 3600)
    assert deadline == 110.0 and "ttl (10 s" in reason
