"""The scheduler's turn order and positions (scheduling/turns.py) and its ranks and leases
(scheduling/policy.py): pure rules, the positions checked against serving the queue turn by turn."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scheduling import policy, turns


def served_in_order(order: list[str], counts: dict[str, int]) -> list[tuple[str, int]]:
    """(user, index) of each job in the order the slots would go, one at a time, to the user served least
    recently among those waiting (as the store does it), with nobody at their own limit."""
    last = {user: i for i, user in enumerate(order)}  # the given order is the least recently served first
    left = {user: counts[user] for user in order if counts[user]}
    turn, served = len(order), []
    while left:
        user = min(left, key=lambda u: last[u])
        served.append((user, counts[user] - left[user]))
        left[user] -= 1
        if not left[user]:
            del left[user]
        last[user] = turn = turn + 1
    return served


@given(st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 12), min_size=1))
def test_positions_are_the_order_the_slots_go_in(counts):
    order = sorted(counts)
    placed = turns.positions(order, counts)
    expected = {key: i + 1 for i, key in enumerate(served_in_order(order, counts))}
    assert {(user, i): p for user in order for i, p in enumerate(placed[user])} == expected


def test_a_user_with_200_waiting_gets_one_turn_per_round_like_a_user_with_1():
    placed = turns.positions(["a", "b"], {"a": 200, "b": 1})
    assert placed["a"][:3] == [1, 3, 4] and placed["b"] == [2]
    assert placed["a"][-1] == 201


def test_a_low_priority_job_ranks_before_higher_ones_created_more_than_nine_steps_later():
    step = 60_000
    low = policy.rank(1_000_000, 0, step)
    assert policy.rank(1_000_000 + 9 * step - 1, 9, step) < low  # within nine steps: the higher one first
    assert policy.rank(1_000_000 + 9 * step + 1, 9, step) > low  # later than that: the low one first
    assert policy.rank(0, 42, step) == policy.rank(0, policy.PRIORITY_MAX, step)  # held to 0-9


def test_a_lease_outlasts_both_deadlines():
    assert policy.lease_ms(3600, 600) == (3600 + 600 + policy.LEASE_MARGIN_S) * 1000
    assert policy.object_name("https://api.runpod.ai/v2/abc") == "https://api.runpod.ai/v2/abc"
    assert policy.object_name("") == "default"
