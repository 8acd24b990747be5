"""What the scheduler's alarm tells the users' objects (scheduling/pushes.py): grants until answered,
a refusal freeing the slot for the next, positions only when they changed and at most once an interval."""

from __future__ import annotations

import pytest

from outbound import TransportError
from scheduling import policy
from scheduling.pushes import Pushes
from scheduling.store import HELD, SchedulerStore
from tests.fakes.do_sql import SqlStorage

T0 = 1_800_000_000_000


class Users:
    """The users' objects as the scheduler reaches them: what each was told, and how it answers."""

    def __init__(self) -> None:
        self.grants: list[tuple[str, int]] = []
        self.positions: dict[str, list[list]] = {}
        self.unwanted: set[str] = set()  # jobs whose object answers a grant "not_wanted"
        self.down: set[str] = set()  # users whose object cannot be reached

    def __call__(self, user_id: str):
        users = self

        class UserObject:
            async def slot_granted(self, job_id: str, attempt: int) -> str:
                if user_id in users.down:
                    raise TransportError("unreachable")
                users.grants.append((job_id, attempt))
                return "not_wanted" if job_id in users.unwanted else "taken"

            async def queue_positions(self, entries: list) -> None:
                if user_id in users.down:
                    raise TransportError("unreachable")
                users.positions.setdefault(user_id, []).extend(entries)

        return UserObject()


@pytest.fixture
def world():
    clock = {"now": T0}
    store = SchedulerStore(SqlStorage(), policy.Limits(per_user=1, total=2, priority_step_ms=60_000))
    users = Users()
    return store, users, Pushes(store, users, lambda: clock["now"]), clock


def ask(store, user: str, job: str, now: int = T0) -> dict:
    return store.acquire(user, job, 1, now, 60_000, now)


async def test_a_grant_is_pushed_until_taken(world):
    store, users, pushes, clock = world
    ask(store, "a", "a1")
    ask(store, "a", "a2")
    store.release("a1", 2, T0)
    users.down.add("a")
    await pushes.grants()
    assert users.grants == [] and store.offers_due(T0 + 1000, 10)  # again after a backoff
    users.down.clear()
    clock["now"] = T0 + 1000
    await pushes.grants()
    assert users.grants == [("a2", 1)] and store.snapshot()["slots"][0]["state"] == HELD
    await pushes.grants()
    assert users.grants == [("a2", 1)]  # taken: never pushed again


async def test_a_refused_grant_goes_to_the_next_waiting_job(world):
    store, users, pushes, _ = world
    for job in ("a1", "a2", "a3"):
        ask(store, "a", job)
    users.unwanted.add("a2")  # cancelled while it waited, and its release lost
    store.release("a1", 2, T0)
    await pushes.grants()
    assert users.grants == [("a2", 1), ("a3", 1)]
    assert [s["job_id"] for s in store.snapshot()["slots"]] == ["a3"]


async def test_positions_are_pushed_when_they_change_all_of_a_users_at_once(world):
    store, users, pushes, clock = world
    for job in ("a1", "a2", "a3", "a4"):
        ask(store, "a", job)
    ask(store, "b", "b1")
    ask(store, "b", "b2")  # total reached: b waits too; a was served less recently, so a's turn is first
    pushes.told.update({("a3", 1): 3, ("b2", 1): 5})  # as the acquires answered (b2's since moved)
    await pushes.positions()
    assert users.positions == {"a": [["a2", 1, 1], ["a4", 1, 4]], "b": [["b2", 1, 2]]}
    assert {key[0]: p for key, p in pushes.told.items()} == {"a2": 1, "b2": 2, "a3": 3, "a4": 4}
    users.positions.clear()
    await pushes.positions()
    assert users.positions == {}  # nothing changed, nothing due
    store.release("a2", 2, T0)  # a cancelled queued job: those behind it move up, once an interval has passed
    await pushes.positions()
    assert users.positions == {}
    clock["now"] = T0 + policy.POSITIONS_EVERY_MS
    await pushes.positions()
    assert users.positions == {"a": [["a3", 1, 1], ["a4", 1, 3]]}  # b2 stays 2nd: not pushed again


async def test_undelivered_positions_are_pushed_again(world):
    store, users, pushes, clock = world
    for job in ("a1", "a2", "a3"):
        ask(store, "a", job)
    users.down.add("a")
    await pushes.positions()
    assert users.positions == {} and not store.positions_due(T0)
    users.down.clear()
    clock["now"] = T0 + policy.POSITIONS_EVERY_MS
    await pushes.positions()
    assert users.positions == {"a": [["a2", 1, 1], ["a3", 1, 2]]}
