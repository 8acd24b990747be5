"""Sending webhook deliveries (webhooks.dispatch) over a recording transport: signed, logged, no redirects."""

from __future__ import annotations

import asyncio
import json

import pytest

from outbound import HttpResponse, TransportError
from settings import MissingSecret
from tests.fakes.do_sql import SqlStorage
from webhooks.dispatch import Dispatch
from webhooks.outbox import Outbox, ensure_schema
from webhooks.policy import WebhookRefused, check_url
from webhooks.signing import key_of, signature

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
T0 = 1_800_000_000_000


class Receiver:
    def __init__(self, *answers) -> None:
        self.answers, self.calls = list(answers), []

    async def __call__(self, method, url, *, headers=None, json_body=None, content=None, timeout_s=10.0,
                       follow_redirects=True):
        self.calls.append({"method": method, "url": url, "headers": headers, "content": content,
                           "follow_redirects": follow_redirects, "timeout_s": timeout_s})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def dispatch(receiver: Receiver, key=lambda: key_of(SECRET), hosts: list[str] | None = None) -> Dispatch:
    """`hosts`: WEBHOOK_HOSTS as the deployment has it now (a test may change the list: a deploy)."""
    sql = SqlStorage()
    ensure_schema(sql, set())
    ids = iter(f"msg_{i}" for i in range(100))
    allowed = ["r.test"] if hosts is None else hosts
    check = lambda url: check_url(url, hosts=tuple(allowed), default_url="", development=False)  # noqa: E731
    return Dispatch(Outbox(sql), receiver, key, (1, 1), check, clock=lambda: T0, wall_clock=lambda: 1_800_000_000,
                    new_id=lambda: next(ids))


def test_a_delivery_is_signed_sent_as_stored_and_never_follows_a_redirect():
    receiver = Receiver(HttpResponse(200, b"ok"))
    d = dispatch(receiver)
    d.emit("completed", "j1", "https://r.test/h", '{"event":"completed"}')
    asyncio.run(d.send_due())
    call = receiver.calls[0]
    assert call["method"] == "POST" and call["url"] == "https://r.test/h" and call["content"] == '{"event":"completed"}'
    assert call["follow_redirects"] is False and call["timeout_s"] == 10.0
    assert call["headers"]["webhook-id"] == "msg_0" and call["headers"]["webhook-timestamp"] == "1800000000"
    assert call["headers"]["webhook-signature"] == signature(key_of(SECRET), "msg_0", 1800000000, call["content"])
    [logged] = d.outbox.of_job("j1")
    assert logged["state"] == "delivered" and logged["attempts"][0]["response_excerpt"] == "ok"


def test_failures_are_logged_with_what_happened_and_retried_with_the_same_id():
    receiver = Receiver(HttpResponse(307, b""), TransportError("POST https://r.test/h failed: timed out"),
                        HttpResponse(500, b"x" * 1000))
    d = dispatch(receiver)
    d.emit("completed", "j1", "https://r.test/h", "{}")
    for i in range(3):
        d.clock = lambda i=i: T0 + i * 10**6  # each retry's time has come
        asyncio.run(d.send_due())
    [logged] = d.outbox.of_job("j1")
    assert [(a["status"], a["error"]) for a in logged["attempts"]] == [
        (307, "redirects are not followed"), (None, "POST https://r.test/h failed: timed out"), (500, None)]
    assert len(logged["attempts"][2]["response_excerpt"]) == 200 and logged["state"] == "failed"
    assert {c["headers"]["webhook-id"] for c in receiver.calls} == {"msg_0"}


def test_no_signing_key_is_an_attempt_that_failed_and_says_why():
    def no_key():
        raise MissingSecret("WEBHOOK_SECRET")

    receiver = Receiver()
    d = dispatch(receiver, key=no_key)
    d.emit("completed", "j1", "https://r.test/h", "{}")
    asyncio.run(d.send_due())
    assert receiver.calls == []
    assert d.outbox.of_job("j1")[0]["attempts"][0]["error"] == "secret WEBHOOK_SECRET is not set"


def test_the_url_rules_are_checked_again_before_each_attempt_and_at_a_redelivery():
    hosts = ["r.test"]
    receiver = Receiver(HttpResponse(200, b"ok"))
    d = dispatch(receiver, hosts=hosts)
    d.emit("completed", "j1", "https://r.test/h", "{}")
    hosts[:] = ["other.test"]  # a deploy narrowed WEBHOOK_HOSTS after the job was started
    asyncio.run(d.send_due())
    [logged] = d.outbox.of_job("j1")
    assert receiver.calls == [] and logged["state"] == "pending"  # nothing sent; retried per the schedule
    assert "not one the deployment allows" in logged["attempts"][0]["error"]
    hosts[:] = ["r.test"]  # allowed again: the retry goes out
    d.clock = lambda: T0 + 10**6
    asyncio.run(d.send_due())
    assert len(receiver.calls) == 1 and d.outbox.of_job("j1")[0]["state"] == "delivered"
    hosts[:] = []
    with pytest.raises(WebhookRefused):
        d.redeliver("j1", "msg_0")
    assert d.outbox.of_job("j1")[0]["state"] == "delivered"  # refused: nothing changed
    hosts[:] = ["r.test"]
    assert d.redeliver("j1", "msg_0") == "pending" and d.redeliver("j1", "msg_nope") == "missing"


def test_a_progress_out_when_the_job_moves_on_is_not_retried_after_the_newer_event():
    d = dispatch(Receiver())
    sent: list[str] = []

    async def receiver(method, url, *, content=None, **_):
        sent.append(json.loads(content)["event"])
        if len(sent) == 1:  # while the progress is out, the job is retried (a callback into the object)
            d.emit("retrying", "j1", url, '{"event":"retrying"}')
        return HttpResponse(503 if len(sent) == 1 else 200, b"")

    d.transport = receiver
    d.emit("progress", "j1", "https://r.test/h", '{"event":"progress"}')
    for t in range(0, 10**7, 10**5):  # the alarm, over the whole schedule
        d.clock = lambda t=t: T0 + t
        asyncio.run(d.send_due())
    assert sent == ["progress", "retrying"]  # the failed progress was superseded, not sent again
    assert [x["state"] for x in d.outbox.of_job("j1")] == ["superseded", "delivered"]


def test_a_lost_progress_attempt_with_a_newer_one_waiting_wakes_the_alarm_once_not_in_a_loop():
    receiver = Receiver(*[HttpResponse(200, b"")] * 5)
    d = dispatch(receiver)
    d.emit("progress", "j1", "https://r.test/h", '{"progress":1}')
    d.outbox.begin("msg_0", T0, timeout_s=10)  # the process died with this attempt out
    d.emit("progress", "j1", "https://r.test/h", '{"progress":2}')
    alarms, now = [], T0
    while (due := d.outbox.earliest_due()) is not None and len(alarms) < 20:  # the object's alarm, as it sets it
        now = max(now, due)
        alarms.append(now - T0)
        d.clock = lambda now=now: now
        asyncio.run(d.send_due())
    assert alarms == [15_000]  # at the lost attempt's deadline: it is dropped and the newer one sent
    assert [c["content"] for c in receiver.calls] == ['{"progress":2}']
