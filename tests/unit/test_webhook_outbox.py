"""The webhook outbox (webhooks.outbox) over the fake DO SQL, and the URL and schedule rules (webhooks.policy)."""

from __future__ import annotations

import pytest

from tests.fakes.do_sql import SqlStorage
from webhooks import policy
from webhooks.outbox import DELIVERED, FAILED, PENDING, SUPERSEDED, Outbox, ensure_schema

T0 = 1_800_000_000_000
SCHEDULE = (1, 2)  # three attempts in all
DEFAULT_URL = "https://default.example.net:8443/hook"


def outbox() -> Outbox:
    sql = SqlStorage()
    ensure_schema(sql, set())
    return Outbox(sql)


def states(box: Outbox, job_id: str = "j1") -> dict[str, str]:
    return {d["id"]: d["state"] for d in box.of_job(job_id)}


def attempt(box: Outbox, delivery_id: str, now: int, status: int | None, error: str | None = None) -> int:
    n = box.begin(delivery_id, now, timeout_s=10)
    box.finish(delivery_id, n, now + 30, 30, status=status, error=error, excerpt=None, schedule_s=SCHEDULE)
    return n


def test_a_delivery_is_due_at_once_and_done_on_a_2xx():
    box = outbox()
    box.add("msg_1", "j1", "completed", "https://r.test/hook", '{"status":"complete"}', T0)
    assert box.earliest_due() == T0 and [d.id for d in box.due(T0, 10)] == ["msg_1"]
    assert attempt(box, "msg_1", T0, 204) == 1
    assert states(box) == {"msg_1": DELIVERED} and box.earliest_due() is None


def test_a_failing_receiver_is_retried_per_the_schedule_then_given_up():
    box = outbox()
    box.add("msg_1", "j1", "completed", "https://r.test/hook", "{}", T0)
    assert attempt(box, "msg_1", T0, 500) == 1
    assert box.earliest_due() == T0 + 30 + 1000 and box.due(T0 + 1000, 10) == []
    assert attempt(box, "msg_1", T0 + 1030, None, error="timed out") == 2
    assert box.earliest_due() == T0 + 1060 + 2000
    assert attempt(box, "msg_1", T0 + 3060, 503) == 3
    assert states(box) == {"msg_1": FAILED} and box.earliest_due() is None
    log = box.of_job("j1")[0]["attempts"]
    assert [(a["attempt"], a["status"], a["error"]) for a in log] == [(1, 500, None), (2, None, "timed out"),
                                                                       (3, 503, None)]


def test_an_attempt_out_is_not_due_again_until_it_would_have_timed_out():
    box = outbox()
    box.add("msg_1", "j1", "completed", "https://r.test/hook", "{}", T0)
    box.begin("msg_1", T0, timeout_s=10)  # then the process died
    assert box.due(T0 + 10_000, 10) == [] and box.earliest_due() == T0 + 15_000
    assert [d.id for d in box.due(T0 + 15_000, 10)] == ["msg_1"]  # the same id again: at least once
    assert attempt(box, "msg_1", T0 + 15_000, 200) == 1  # the lost attempt logged nothing


def test_progress_is_coalesced_the_latest_waiting_one_wins_and_one_is_out_at_a_time():
    box = outbox()
    box.add("p1", "j1", "progress", "https://r.test/hook", '{"progress":10}', T0)
    box.add("p2", "j1", "progress", "https://r.test/hook", '{"progress":20}', T0 + 1)
    assert states(box) == {"p2": PENDING}  # p1 was never tried: gone, the outbox does not grow with reports
    n = box.begin("p2", T0 + 2, timeout_s=10)
    box.add("p3", "j1", "progress", "https://r.test/hook", '{"progress":30}', T0 + 3)
    assert states(box) == {"p2": SUPERSEDED, "p3": PENDING}  # p2 is out: finished, never tried again
    assert box.due(T0 + 5, 10) == []  # p3 waits for p2
    assert box.earliest_due() == T0 + 2 + 15_000  # ... and is due when p2's attempt would time out, not before
    box.finish("p2", n, T0 + 6, 4, status=200, error=None, excerpt=None, schedule_s=SCHEDULE)
    assert states(box)["p2"] == DELIVERED and [d.id for d in box.due(T0 + 7, 10)] == ["p3"]
    box.add("p4", "j2", "progress", "https://r.test/hook", "{}", T0 + 8)  # another job's are its own
    assert "p4" in [d.id for d in box.due(T0 + 9, 10)]


@pytest.mark.parametrize("newer", ["progress", "retrying", "started", "completed"])
def test_a_newer_event_supersedes_the_jobs_progress_and_a_superseded_one_is_never_tried_again(newer):
    box = outbox()
    box.add("p1", "j1", "progress", "https://r.test/hook", '{"progress":90}', T0)
    attempt(box, "p1", T0, 500)  # tried; its retry is due at T0 + 1030
    box.add("p2", "j1", "progress", "https://r.test/hook", '{"progress":95}', T0 + 100)
    n = box.begin("p2", T0 + 100, timeout_s=10)  # out when the newer event comes
    box.add("e1", "j1", newer, "https://r.test/hook", "{}", T0 + 200)
    box.finish("p2", n, T0 + 300, 200, status=500, error=None, excerpt=None, schedule_s=SCHEDULE)
    assert states(box) == {"p2": SUPERSEDED, "e1": PENDING}  # p1, superseded before p2, pruned
    assert [d.id for d in box.due(T0 + 10**9, 10)] == ["e1"]  # neither progress is tried again, ever
    attempt(box, "e1", T0 + 400, 200)
    assert box.earliest_due() is None  # nothing left to wake the alarm for


def test_a_superseded_attempt_lost_to_a_crash_is_dropped_at_its_deadline_not_sent():
    box = outbox()
    box.add("p1", "j1", "progress", "https://r.test/hook", "{}", T0)
    box.begin("p1", T0, timeout_s=10)  # then the process died
    box.add("c1", "j1", "completed", "https://r.test/hook", "{}", T0 + 100)
    assert box.earliest_due() == T0 + 100
    attempt(box, "c1", T0 + 100, 200)
    assert box.earliest_due() == T0 + 15_000  # p1's deadline: the alarm comes back once, to clear it
    box.drop_lost(T0 + 15_000)
    assert box.due(T0 + 15_000, 10) == [] and box.earliest_due() is None
    assert states(box) == {"p1": SUPERSEDED, "c1": DELIVERED}


def test_superseded_progress_that_was_tried_is_pruned_to_the_newest():
    box = outbox()
    for i in range(6):  # a receiver that fails every progress once, each replaced before its retry
        box.add(f"p{i}", "j1", "progress", "https://r.test/hook", "{}", T0 + i * 10)
        attempt(box, f"p{i}", T0 + i * 10 + 1, 500)
    assert states(box) == {"p4": SUPERSEDED, "p5": PENDING}
    assert box.sql.exec("SELECT COUNT(*) AS n FROM webhook_attempts").one()["n"] == 2  # theirs went with them


def test_the_earliest_due_time_is_read_once_until_the_outbox_changes():
    box = outbox()
    box.add("c1", "j1", "completed", "https://r.test/hook", "{}", T0)
    queries = []
    real = box.sql.exec
    box.sql.exec = lambda query, *args: queries.append(query) or real(query, *args)
    assert box.earliest_due() == T0 and box.earliest_due() == T0 and len(queries) == 1
    attempt(box, "c1", T0, 500)
    assert box.earliest_due() == T0 + 30 + 1000  # a write forgets it


def test_a_redelivery_sends_again_with_a_fresh_schedule_and_the_same_id():
    box = outbox()
    box.add("msg_1", "j1", "completed", "https://r.test/hook", "{}", T0)
    for t in (T0, T0 + 2000, T0 + 10_000):
        attempt(box, "msg_1", t, 500)
    assert states(box) == {"msg_1": FAILED}
    assert box.redeliver("j2", "msg_1", T0 + 20_000) == "missing"  # another job's delivery is not found
    assert box.redeliver("j1", "msg_1", T0 + 20_000) == PENDING
    assert [d.id for d in box.due(T0 + 20_000, 10)] == ["msg_1"]
    assert attempt(box, "msg_1", T0 + 20_000, 200) == 4 and states(box) == {"msg_1": DELIVERED}


@pytest.mark.parametrize(("url", "ok"), [
    ("https://hooks.example.com/x", True), ("https://a.hooks.example.com/x", False),
    ("https://api.example.org/x?y=1", True), ("https://x.api.example.org/x", True),
    ("https://example.org/x", False),  # "*.example.org" is subdomains only
    ("http://hooks.example.com/x", False), ("ftp://hooks.example.com/x", False),
    ("https://user:pw@hooks.example.com/x", False), ("https://hooks.example.com/x#f", False),
    ("https://evil.test/x", False), ("https://hooks.example.com.evil.test/x", False),
    ("https://hooks.example.com:99999/x", False), ("https://" + "a" * 2000 + ".com", False),
    ("https://default.example.net/other", True),  # the host of WEBHOOK_URL is allowed
    ("https://evil.test\\.api.example.org/x", False),  # fetch reads the backslash as a slash: evil.test
    ("https://evil.test\t.api.example.org/x", False), ("https://ëvil.api.example.org/x", False),
    ("https://[::1]/x", False), ("https://a_b.api.example.org/x", False),
    ("https://hooks.example.com:443/x", True), ("https://hooks.example.com:8443/x", False),  # https's port only
    ("https://hooks.example.com:22/x", False),
    ("https://default.example.net:8443/hook", True),  # WEBHOOK_URL itself, port and all: the deployment's choice
    ("https://default.example.net:8443/other", False),
])
def test_urls_a_delivery_may_go_to(url, ok):
    check = lambda: policy.check_url(url, hosts=policy.parse_hosts("hooks.example.com, *.example.org"),  # noqa: E731
                                     default_url=DEFAULT_URL, development=False)
    if ok:
        assert check() == url
    else:
        with pytest.raises(policy.WebhookRefused):
            check()


def test_development_also_allows_http_and_no_hosts_means_no_caller_chosen_url():
    assert policy.check_url("http://127.0.0.1:9/h", hosts=("127.0.0.1",), default_url="", development=True)
    assert policy.check_url("https://r.test:8443/h", hosts=("r.test",), default_url="", development=True)
    with pytest.raises(policy.WebhookRefused):
        policy.check_url("https://anything.test/h", hosts=(), default_url="", development=False)


def test_the_schedule_and_the_events():
    assert policy.parse_schedule("") == policy.DEFAULT_SCHEDULE_S
    assert sum(policy.DEFAULT_SCHEDULE_S) / 3600 == pytest.approx(27.6, abs=0.1)  # about a day, 8 attempts
    assert policy.parse_schedule("1, 2,3") == (1, 2, 3)
    for bad in ("a", "1,-1", "1,,2"):
        with pytest.raises(ValueError):
            policy.parse_schedule(bad)
    assert policy.check_events(["progress", "completed", "progress"]) == ("progress", "completed")
    for bad in ([], ["finished"]):
        with pytest.raises(policy.WebhookRefused):
            policy.check_events(bad)


def test_a_tried_progress_delivery_that_is_replaced_stays_in_the_log_and_one_out_cannot_be_redelivered():
    box = outbox()
    box.add("p1", "j1", "progress", "https://r.test/hook", "{}", T0)
    attempt(box, "p1", T0, 500)  # tried, waiting for its retry
    box.add("p2", "j1", "progress", "https://r.test/hook", "{}", T0 + 100)
    assert states(box) == {"p1": SUPERSEDED, "p2": PENDING}
    box.begin("p2", T0 + 200, timeout_s=10)
    assert box.redeliver("j1", "p2", T0 + 300) == "in_flight"


def test_a_delivered_progress_replaces_the_older_delivered_ones_in_the_log():
    box = outbox()
    for i in range(5):
        box.add(f"p{i}", "j1", "progress", "https://r.test/hook", "{}", T0 + i * 10)
        attempt(box, f"p{i}", T0 + i * 10 + 1, 200)
    box.add("c1", "j1", "completed", "https://r.test/hook", "{}", T0 + 100)
    attempt(box, "c1", T0 + 101, 200)
    assert states(box) == {"p4": DELIVERED, "c1": DELIVERED}  # a log of a few rows, whatever the reports
    assert [a["attempt"] for a in box.of_job("j1")[0]["attempts"]] == [1]
