"""The encode queue's SQL (encode_queue.store) over the fake DO SQL: claims, leases, retries, pages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encode_queue import policy
from encode_queue.store import CLAIM, QueueStore, Refused
from refusals import HTTP
from tests.fakes.do_sql import SqlStorage

T0 = 1_700_000_000_000


def item(name: str = "a.mp4", **extra) -> dict:
    return {"file_name": name, "crf": extra.get("crf"), "preset": extra.get("preset"),
            "max_attempts": extra.get("max_attempts", 3), "priority": extra.get("priority", 0)}


@pytest.fixture
def store() -> QueueStore:
    return QueueStore(SqlStorage())


def refused(fn, *args) -> str:
    with pytest.raises(Refused) as caught:
        fn(*args)
    assert caught.value.code in HTTP  # the object answers it as refusals.refusal(code)
    return caught.value.code


def test_enqueue_returns_rows_in_order_with_the_seed_fields(store):
    rows = store.enqueue([item("a.mp4", crf="23", preset="medium"), item("b.mp4")], T0 + 1500)
    assert [r["file_name"] for r in rows] == ["a.mp4", "b.mp4"]
    assert rows[0]["id"] < rows[1]["id"]
    first = rows[0]
    assert first["crf"] == "23" and first["preset"] == "medium"
    assert first["status"] == "pending" and first["created_at"] == (T0 + 1500) // 1000
    assert first["started"] is None and first["finished"] is None and first["lease_id"] is None
    assert first["attempts"] == 0 and first["max_attempts"] == 3


def test_a_thousand_rows_in_one_statement(store):
    rows = store.enqueue([item(f"{i}.mp4") for i in range(1000)], T0)
    assert [r["file_name"] for r in rows] == [f"{i}.mp4" for i in range(1000)]
    assert store.stats(T0)["pending"] == 1000


def test_claim_takes_the_oldest_available_and_never_twice(store):
    store.enqueue([item("a"), item("b")], T0)
    first = store.claim("L1", 60, T0)
    second = store.claim("L2", 60, T0)
    assert (first["file_name"], second["file_name"]) == ("a", "b")
    assert first["status"] == "in_progress" and first["lease_id"] == "L1"
    assert first["started"] == T0 // 1000 and first["lease_expires_at"] == (T0 + 60_000) // 1000
    assert store.claim("L3", 60, T0) is None


def test_an_expired_lease_puts_the_job_back_then_dead_at_max_attempts(store):
    (job,) = store.enqueue([item("a", max_attempts=2)], T0)
    store.claim("L1", 1, T0)
    assert store.claim("L2", 1, T0 + 999) is None  # not yet expired
    again = store.claim("L2", 1, T0 + 1000)  # expired exactly at its end: back, and claimed again
    assert again["id"] == job["id"] and again["lease_id"] == "L2" and again["attempts"] == 1
    assert again["error"] == policy.LEASE_EXPIRED
    assert store.sweep(T0 + 2000) == 1
    assert store.get(job["id"], T0 + 2000)["status"] == "dead"
    assert store.claim("L3", 1, T0 + 3000) is None


def test_heartbeat_keeps_the_lease(store):
    (job,) = store.enqueue([item("a")], T0)
    store.claim("L1", 10, T0)
    beat = store.heartbeat(job["id"], "L1", None, T0 + 9000)  # renewed for the claim's 10 s
    assert beat["lease_expires_at"] == (T0 + 19_000) // 1000
    assert store.sweep(T0 + 18_000) == 0
    assert store.heartbeat(job["id"], None, 30, T0 + 18_000)["lease_s"] == 30
    assert store.sweep(T0 + 48_000) == 1


def test_late_calls_of_a_lost_lease_change_nothing(store):
    (job,) = store.enqueue([item("a")], T0)
    store.claim("L1", 1, T0)
    store.claim("L2", 60, T0 + 5000)  # L1 expired; the job went to L2
    for call in (lambda: store.finish(job["id"], "L1", T0 + 6000),
                 lambda: store.heartbeat(job["id"], "L1", None, T0 + 6000),
                 lambda: store.fail(job["id"], "L1", "x", None, T0 + 6000)):
        assert refused(call) == "lease_lost"
    assert store.get(job["id"], T0 + 6000)["lease_id"] == "L2"


def test_finish_is_idempotent_and_needs_a_claim(store):
    (job,) = store.enqueue([item("a")], T0)
    assert refused(store.finish, job["id"], None, T0) == "not_started"
    store.claim("L1", 60, T0)
    done = store.finish(job["id"], "L1", T0 + 2000)
    assert done["status"] == "finished" and done["finished"] == (T0 + 2000) // 1000
    assert store.finish(job["id"], "L1", T0 + 3000) == done
    assert refused(store.heartbeat, job["id"], None, None, T0) == "not_in_progress"
    assert refused(store.finish, 999, None, T0) == "not_found"


def test_fail_retries_with_backoff_then_dead_then_requeue(store):
    (job,) = store.enqueue([item("a")], T0)
    now = T0
    for attempt in (1, 2):
        store.claim("L", 60, now)
        failed = store.fail(job["id"], None, f"boom {attempt}", None, now)
        assert failed["status"] == "pending" and failed["attempts"] == attempt and failed["error"] == f"boom {attempt}"
        wait_ms = policy.backoff_s(attempt) * 1000
        assert store.claim("L", 60, now + wait_ms - 1) is None  # still backing off
        now += wait_ms
    store.claim("L", 60, now)
    dead = store.fail(job["id"], None, "boom 3", 0, now)
    assert dead["status"] == "dead" and dead["attempts"] == 3 and dead["lease_id"] is None
    assert refused(store.finish, job["id"], None, now) == "not_in_progress"
    back = store.requeue(job["id"], now)
    assert back["status"] == "pending" and back["attempts"] == 0
    assert refused(store.requeue, job["id"], now) == "not_dead"
    assert store.claim("L", 60, now)["id"] == job["id"]


def test_page_filters_counts_and_deletes(store):
    store.enqueue([item(str(i)) for i in range(5)], T0)
    store.claim("L", 60, T0)
    page, total = store.page("pending", 2, 1, T0)
    assert [r["file_name"] for r in page] == ["2", "3"] and total == 4
    assert store.page("all", 100, 0, T0)[1] == 5
    assert store.stats(T0) == {"pending": 4, "in_progress": 1, "finished": 0, "dead": 0, "total": 5}
    first = store.page("in_progress", 10, 0, T0)[0][0]
    store.delete(first["id"])
    assert refused(store.delete, first["id"]) == "not_found"
    assert refused(store.finish, first["id"], None, T0) == "not_found"
    (new,) = store.enqueue([item("later")], T0)
    assert new["id"] > max(r["id"] for r in store.page("all", 100, 0, T0)[0] if r["file_name"] != "later")


def test_next_expiry_is_the_earliest_lease(store):
    store.enqueue([item("a"), item("b")], T0)
    assert store.next_expiry_ms() is None
    store.claim("L1", 30, T0)
    store.claim("L2", 10, T0)
    assert store.next_expiry_ms() == T0 + 10_000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["claim", "finish", "fail", "expire", "enqueue", "requeue"]), max_size=40))
def test_no_job_is_ever_held_by_two_leases(actions):
    """Whatever the order of events, each job has at most one live lease, counts add up, and a
    job's attempts never pass its max_attempts."""
    store = QueueStore(SqlStorage())
    store.enqueue([item(str(i), max_attempts=2) for i in range(3)], T0)
    now, n = T0, 0
    held: dict[int, str] = {}
    for action in actions:
        n += 1
        if action == "claim":
            for job in store.claim_batch([f"L{n}a", f"L{n}b"], 5, now):  # a batch of up to two
                assert job["id"] not in held and job["lease_id"] not in held.values()
                held[job["id"]] = job["lease_id"]
        elif action in ("finish", "fail") and held:
            job_id, lease = next(iter(held.items()))
            try:
                (store.finish(job_id, lease, now) if action == "finish" else store.fail(job_id, lease, "x", 0, now))
            except Refused as exc:
                assert exc.code == "lease_lost"
            held.pop(job_id)
        elif action == "expire":
            now += 6000
            store.sweep(now)
            held.clear()
        elif action == "enqueue":
            store.enqueue([item("new", max_attempts=2)], now)
        elif action == "requeue":
            for dead in store.page("dead", 10, 0, now)[0]:
                store.requeue(dead["id"], now)
        rows, total = store.page("all", 1000, 0, now)
        in_progress = {r["id"] for r in rows if r["status"] == "in_progress"}
        assert in_progress == set(held)
        assert all(r["attempts"] <= r["max_attempts"] for r in rows)
        stats = store.stats(now)
        assert stats["total"] == total == sum(stats[s] for s in ("pending", "in_progress", "finished", "dead"))


def test_a_batch_claim_hands_out_distinct_rows_each_with_its_own_lease(store):
    jobs = store.enqueue([item(str(i)) for i in range(7)], T0)
    first = store.claim_batch([f"L{i}" for i in range(5)], 60, T0)
    assert [j["id"] for j in first] == [j["id"] for j in jobs[:5]]  # oldest first, at most max
    assert sorted(j["lease_id"] for j in first) == [f"L{i}" for i in range(5)]
    assert all(j["status"] == "in_progress" and j["lease_expires_at"] == (T0 + 60_000) // 1000 for j in first)
    rest = store.claim_batch([f"M{i}" for i in range(5)], 60, T0)  # fewer left than asked: what there is
    assert [j["id"] for j in rest] == [j["id"] for j in jobs[5:]]
    assert store.claim_batch(["N"], 60, T0) == []
    # Each job's lease is its own: finishing one with a sibling's lease id is refused.
    assert refused(store.finish, first[0]["id"], first[1]["lease_id"], T0) == "lease_lost"
    assert store.finish(first[0]["id"], first[0]["lease_id"], T0)["status"] == "finished"


def test_a_batch_skips_jobs_still_backing_off(store):
    a, b, c = store.enqueue([item("a"), item("b"), item("c")], T0)
    store.claim("L", 60, T0)
    store.fail(a["id"], "L", "boom", 30, T0)  # a: available again at T0 + 30 s
    assert store.next_available_ms(T0) == T0 + 30_000
    assert [j["id"] for j in store.claim_batch(["x", "y", "z"], 60, T0 + 1000)] == [b["id"], c["id"]]
    assert store.next_available_ms(T0 + 1000) == T0 + 30_000
    assert [j["id"] for j in store.claim_batch(["x", "y"], 60, T0 + 30_000)] == [a["id"]]
    assert store.next_available_ms(T0 + 30_000) is None


def test_priority_goes_first_and_older_jobs_age_ahead():
    step_s = 60
    store = QueueStore(SqlStorage(), priority_step_s=step_s)
    (low,) = store.enqueue([item("low", priority=0)], T0)
    (mid,) = store.enqueue([item("mid", priority=5)], T0 + 1000)
    (high,) = store.enqueue([item("high", priority=9)], T0 + 2000)
    assert (low["priority"], mid["priority"], high["priority"]) == (0, 5, 9)
    # Created within seconds of each other: the higher priority first.
    assert [j["file_name"] for j in store.claim_batch(["a", "b", "c"], 60, T0 + 3000)] == ["high", "mid", "low"]


@pytest.mark.parametrize(("later_by_ms", "first"), [
    (9 * 60_000 - 1, "urgent"),  # a priority-9 job passes a priority-0 one up to 9 steps older...
    (9 * 60_000, "old"),  # ...an equal rank goes by id...
    (9 * 60_000 + 1, "old"),  # ...and once the old job has aged past 9 steps, it goes first.
])
def test_aging_bounds_how_long_priority_can_pass_a_job(later_by_ms, first):
    store = QueueStore(SqlStorage(), priority_step_s=60)
    store.enqueue([item("old", priority=0)], T0)
    store.enqueue([item("urgent", priority=9)], T0 + later_by_ms)
    assert store.claim("L", 60, T0 + later_by_ms)["file_name"] == first


def test_a_priority_zero_job_is_claimed_under_a_stream_of_priority_nine():
    """A priority-9 job every 10 s, one claim every 10 s: the old job waits at most 9 steps."""
    store = QueueStore(SqlStorage(), priority_step_s=60)
    (old,) = store.enqueue([item("old", priority=0)], T0)
    now = T0
    while True:
        now += 10_000
        store.enqueue([item("urgent", priority=9)], now)
        if store.claim("L", 600, now)["id"] == old["id"]:
            break
    assert 9 * 60_000 <= now - T0 <= 9 * 60_000 + 10_000


def test_the_claim_is_a_covering_index_scan_in_rank_order(store):
    store.enqueue([item(str(i), priority=i % 10) for i in range(50)], T0)
    plan = [r["detail"] for r in store._sql.exec(
        "EXPLAIN QUERY PLAN " + CLAIM, T0, 10, T0, '["a"]', 60, T0 + 60_000).toArray()]
    assert any(d.startswith("SCAN jobs USING COVERING INDEX jobs_claim") for d in plan), plan
    assert not any("TEMP B-TREE" in d for d in plan), plan  # no sort: the index is read in order
    assert not any(d.startswith("SCAN jobs") and "jobs_claim" not in d for d in plan), plan  # no table scan
    assert any("INTEGER PRIMARY KEY" in d for d in plan), plan  # the update finds each row by id


def test_a_queue_made_before_priorities_is_migrated():
    sql = SqlStorage()
    sql.exec("""CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, file_name TEXT NOT NULL, crf TEXT,
        preset TEXT, status TEXT NOT NULL DEFAULT 'pending', created_ms INTEGER NOT NULL, started_ms INTEGER,
        finished_ms INTEGER, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
        lease_id TEXT, lease_s INTEGER, lease_expires_ms INTEGER, available_ms INTEGER NOT NULL, error TEXT)""")
    for name, created in (("first", T0), ("second", T0 + 1)):
        sql.exec("INSERT INTO jobs (file_name, created_ms, max_attempts, available_ms) VALUES (?, ?, 3, ?)",
                 name, created, created)
    store = QueueStore(sql)
    QueueStore(sql)  # a second construction (the object rebuilt) changes nothing
    (urgent,) = store.enqueue([item("urgent", priority=1)], T0 + 2)
    claimed = store.claim_batch(["a", "b", "c"], 60, T0 + 3)
    assert [(j["file_name"], j["priority"]) for j in claimed] == [("urgent", 1), ("first", 0), ("second", 0)]


def test_backoff_doubles_and_is_capped():
    assert [policy.backoff_s(a) for a in range(1, 8)] == [5, 10, 20, 40, 80, 160, 300]
    assert policy.backoff_s(10_000) == policy.BACKOFF_MAX_S
