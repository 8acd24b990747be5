"""The scheduler's SQL (scheduling/store.py) over the fake DO SQL: grants under the limits, the queue,
round robin between users and rank within one, offers and their answers, leases, positions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling import policy
from scheduling.store import HELD, OFFERED, SchedulerStore
from tests.fakes.do_sql import SqlStorage

T0 = 1_800_000_000_000
LEASE = 60_000
STEP = 60_000


@pytest.fixture
def store() -> SchedulerStore:
    return SchedulerStore(SqlStorage(), policy.Limits(per_user=2, total=4, priority_step_ms=STEP))


def ask(store: SchedulerStore, user: str, job: str, now: int = T0, attempt: int = 1, priority: int = 0,
        created: int | None = None) -> dict:
    rank = policy.rank(now if created is None else created, priority, STEP)
    return store.acquire(user, job, attempt, rank, LEASE, now)


def slots(store: SchedulerStore) -> dict[str, str]:
    return {s["job_id"]: s["state"] for s in store.snapshot()["slots"]}


def take_offers(store: SchedulerStore, now: int = T0) -> list[str]:
    """The grants the alarm would push, each taken by its user's object."""
    offers = store.offers_due(now, 100)
    for o in offers:
        store.taken(o["job_id"], o["attempt"])
    return [o["job_id"] for o in offers]


def test_starts_under_the_limits_are_granted_at_once_then_queued_with_positions(store):
    assert ask(store, "a", "a1") == {"granted": True} == ask(store, "a", "a2")
    assert ask(store, "a", "a3") == {"granted": False, "position": 1}  # a is at its own limit
    assert ask(store, "a", "a4") == {"granted": False, "position": 2}
    assert ask(store, "b", "b1") == {"granted": True}  # b is not: a's queue does not hold it up
    assert ask(store, "a", "a3") == {"granted": False, "position": 1}  # asking again answers the same
    assert ask(store, "a", "a1") == {"granted": True}
    assert slots(store) == {"a1": HELD, "a2": HELD, "b1": HELD}
    snap = store.snapshot()
    assert snap["slots_in_use"] == 3 and snap["waiting"] == {"a": 2} and snap["limits"] == {"per_user": 2, "total": 4}


def test_a_user_with_20_waiting_gets_one_turn_like_a_user_with_1(store):
    for i in range(1, 21):
        ask(store, "a", f"a{i}")
    ask(store, "b", "b1")
    ask(store, "b", "b2")  # b's two start before a's third and fourth
    for i in range(3, 6):
        ask(store, "c", f"c{i}")  # total reached: c waits
    assert set(slots(store)) == {"a1", "a2", "b1", "b2"}
    assert store.snapshot()["waiting"] == {"a": 18, "c": 3}
    # c was never served: its turn comes first, then a's (c has its slot then), then c's again.
    order = []
    for done in ("a1", "b1", "b2", "a2"):
        store.release(done, 2, T0)
        order += take_offers(store)
    assert order == ["c3", "a3", "c4", "a4"]
    assert store.snapshot()["slots_in_use"] == 4


def test_within_a_user_the_lowest_rank_goes_first_and_a_low_priority_job_ages(store):
    ask(store, "a", "a1")
    ask(store, "a", "a2")
    ask(store, "a", "low", now=T0, priority=0)
    ask(store, "a", "high", now=T0 + 1000, priority=9)  # later, but nine steps of priority ahead
    ask(store, "a", "late", now=T0 + 9 * STEP + 1000, priority=9)  # more than nine steps later: behind `low`
    assert store.position_of("high", 1) == 1 and store.position_of("low", 1) == 2
    assert store.position_of("late", 1) == 3
    store.release("a1", 2, T0)
    assert take_offers(store) == ["high"]
    store.release("a2", 2, T0)
    assert take_offers(store) == ["low"]


def test_positions_move_as_jobs_end(store):
    for i in range(1, 6):
        ask(store, "a", f"a{i}")
    assert {job: p for (job, _), (_, p) in store.positions().items()} == {"a3": 1, "a4": 2, "a5": 3}
    store.release("a1", 2, T0)
    take_offers(store)
    assert {job: p for (job, _), (_, p) in store.positions().items()} == {"a4": 1, "a5": 2}
    assert store.positions_due(T0)  # the change is to be pushed


def test_positions_are_pushed_at_most_once_an_interval(store):
    ask(store, "a", "a1")
    ask(store, "a", "a2")
    ask(store, "a", "a3", now=T0)
    assert store.positions_due(T0) and store.next_due() == T0
    store.positions_pushed(T0, 1)
    assert not store.positions_due(T0)
    ask(store, "a", "a4", now=T0 + 10)  # changed again right after a push: due one interval after it
    assert not store.positions_due(T0 + 10) and store.positions_due(T0 + policy.POSITIONS_EVERY_MS)
    store.positions_pushed(T0 + 1000, 500)  # with 500 users' objects told, the next round waits longer
    ask(store, "a", "a5", now=T0 + 1000)
    assert not store.positions_due(T0 + 10_999) and store.positions_due(T0 + 11_000)


def test_a_grant_is_offered_until_taken_and_a_refusal_frees_it_for_the_next(store):
    for i in range(1, 5):
        ask(store, "a", f"a{i}")
    store.release("a1", 2, T0)
    assert slots(store)["a3"] == OFFERED and store.next_due() == T0
    assert ask(store, "a", "a3") == {"granted": True} and slots(store)["a3"] == HELD  # the ask takes it too
    store.release("a2", 2, T0)
    [offer] = store.offers_due(T0, 10)
    store.refused(offer["job_id"], offer["attempt"], T0)  # cancelled meanwhile: the slot goes on
    assert "a4" not in slots(store) and store.snapshot()["waiting"] == {}
    assert store.snapshot()["slots_in_use"] == 1


def test_an_undelivered_grant_is_pushed_again_after_a_backoff(store):
    for i in range(1, 4):
        ask(store, "a", f"a{i}")
    store.release("a1", 2, T0)
    store.positions_pushed(T0, 1)
    store.offer_failed("a3", 1, T0)
    assert store.offers_due(T0, 10) == [] and store.next_due() == T0 + 1000
    store.offer_failed("a3", 1, T0 + 1000)
    assert store.offers_due(T0 + 2999, 10) == [] and len(store.offers_due(T0 + 3000, 10)) == 1


def test_release_is_idempotent_and_per_attempt(store):
    ask(store, "a", "j", attempt=1)
    ask(store, "a", "j", attempt=2)  # a retry asks before the last attempt's release arrived
    assert set(slots(store)) == {"j"} and store.snapshot()["slots_in_use"] == 2
    assert store.release("j", 2, T0) == 1  # attempt 1's slot; attempt 2's stays
    assert store.release("j", 2, T0) == 0
    assert store.snapshot()["slots"][0]["attempt"] == 2
    assert store.release("j", 3, T0) == 1 and store.snapshot() == {
        "limits": {"per_user": 2, "total": 4}, "slots_in_use": 0, "slots": [], "waiting": {}}


def test_a_waiting_job_released_leaves_the_queue(store):
    for i in range(1, 5):
        ask(store, "a", f"a{i}")
    assert store.release("a3", 2, T0) == 1  # a cancelled queued job
    assert store.position_of("a4", 1) == 1 and store.snapshot()["waiting"] == {"a": 1}


def test_an_expired_lease_frees_its_slot_for_the_next(store):
    ask(store, "a", "a1")
    ask(store, "a", "a2", now=T0 + 10)
    ask(store, "a", "a3")
    assert store.next_due() == T0  # positions; then the first lease
    store.positions_pushed(T0, 1)
    assert store.next_due() == T0 + LEASE
    assert store.expire(T0 + LEASE - 1) == []
    [gone] = store.expire(T0 + LEASE)
    assert gone["job_id"] == "a1" and gone["state"] == HELD
    assert slots(store) == {"a2": HELD, "a3": OFFERED}  # its lease from the grant: later than a2's
    assert [s["lease_until"] for s in store.snapshot()["slots"]][-1].endswith("Z")


def test_raised_limits_let_the_queue_in_at_the_next_change(store):
    for i in range(1, 5):
        ask(store, "a", f"a{i}")
    store.limits = policy.Limits(per_user=4, total=4, priority_step_ms=STEP)
    ask(store, "b", "b1")  # the freed slots go round robin, the newcomer (never served) first
    assert set(slots(store)) == {"a1", "a2", "b1", "a3"} and store.snapshot()["waiting"] == {"a": 1}


@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 9)), min_size=1, max_size=40))
@settings(max_examples=60, deadline=None)
def test_one_jobs_position_in_sql_is_its_place_in_the_turn_order(asks):
    """store.position_of (one query) agrees with turns.positions (all of them) whatever was asked."""
    store = SchedulerStore(SqlStorage(), policy.Limits(per_user=1, total=2, priority_step_ms=STEP))
    for n, (user, priority) in enumerate(asks):
        store.acquire(user, f"j{n}", 1, policy.rank(T0 + n, priority, STEP), LEASE, T0 + n)
        if n % 5 == 4:  # now and then a job ends: the turn order moves
            held = store.snapshot()["slots"]
            if held:
                store.release(held[0]["job_id"], 2, T0 + n)
    for (job_id, attempt), (_, position) in store.positions().items():
        assert store.position_of(job_id, attempt) == position
