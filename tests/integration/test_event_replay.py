"""Gap-free live events on the real runtime (docs/api.md "Live events"): every event numbered (`seq`), a
WebSocket that comes back with `?since=` replayed what it missed, server-sent events resumed with
`Last-Event-ID`, status long-polls answered at the next event, a thousand subscribers of one job served
after its object was evicted, and every new door refusing bad input and other users' jobs.

Each test acts for a user of its own, so no test's open stream keeps another's object in memory."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.conftest import put_object, token_headers, user_token, worker_env
from tests.integration.export_support import Socket, callback, start_job, start_submitted, status, ws_url
from tests.waiting import wait_for

HEARTBEAT_S = 15  # durable_objects/event_streams.HEARTBEAT_S
EVICTION_IDLE_S = 25  # see test_export_restarts.py: an idle object was rebuilt after 20 s under wrangler dev
SUBSCRIBERS = 1000
VIDEO = b"\x00\x01fake-mp4" * 100


@pytest.fixture(scope="module")
def worker(tmp_path_factory, fake_runpod):
    """A watchdog period far beyond every wait here: no alarm wakes an object that should stay idle."""
    from tests.worker_process import worker as make_worker_process

    with make_worker_process(tmp_path_factory.mktemp("replay"), worker_env(fake_runpod.url, STALL_POLL_S="600")) as w:
        yield w


def user_with_input(client: httpx.Client, user: str) -> str:
    put_object(client, user, "working_videos/in.mp4", VIDEO)
    return user


def read_events(lines: Iterator[str]) -> Iterator[dict]:
    """Server-sent events as dicts of their fields (`id`, `event`, `data` parsed); comments skipped."""
    fields: dict = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield {**fields, "data": json.loads(fields["data"])}
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


def events_url(job_id: str) -> str:
    return f"/api/export/jobs/{job_id}/events"


# -- WebSockets --------------------------------------------------------------------------------------

def test_a_socket_cut_for_5_s_across_processing_to_complete_gets_both_on_reconnect(worker, client, fake_runpod):
    user = user_with_input(client, "cut")
    fake_runpod.mode = "unavailable"  # the job stays pending (its submission retried) until the socket is cut
    job_id = start_job(client, user=user).json()["job_id"]
    s = Socket(ws_url(worker, job_id, user))
    first = s.recv()
    assert (first["status"], first["seq"]) == ("pending", 0)
    s.close()
    cut_at = time.monotonic()
    fake_runpod.mode = "ok"
    run, _ = fake_runpod.run_for(job_id, timeout=20)
    wait_for(lambda: status(client, job_id, user)["status"] == "processing", timeout=20)
    assert callback(run["input"]["callback_url"], {"status": "complete"}).status_code == 200
    time.sleep(max(0.0, 5 - (time.monotonic() - cut_at)))  # the cut lasts 5 s, as the scenario says
    s = Socket(ws_url(worker, job_id, user) + f"&since={first['seq']}")
    try:
        replay = [s.recv(), s.recv()]
        assert [(m["type"], m.get("status"), m["seq"]) for m in replay] == [
            ("status", "processing", 1), ("complete", None, 2)]
        s.conn.send('{"type":"ping"}')
        assert s.recv() == {"type": "pong"}  # and nothing else came
    finally:
        s.close()
    # Up to date: nothing is replayed. A since the log cannot place gets the state as it is.
    for since, expected in ((2, []), (99, [("status", "complete", 2)])):
        s = Socket(ws_url(worker, job_id, user) + f"&since={since}")
        try:
            s.conn.send('{"type":"ping"}')
            got = []
            while (m := s.recv())["type"] != "pong":
                got.append((m["type"], m.get("status"), m["seq"]))
            assert got == expected
        finally:
            s.close()


def test_live_events_carry_increasing_seqs_and_status_bodies_the_last(worker, client, fake_runpod):
    user = user_with_input(client, "numbers")
    job_id, cb = start_submitted(client, fake_runpod, user=user)
    wait_for(lambda: status(client, job_id, user)["seq"] == 1)
    s = Socket(ws_url(worker, job_id, user))
    try:
        assert s.recv()["seq"] == 1
        for progress in (20, 40):
            callback(cb, {"status": "progress", "progress": progress})
        callback(cb, {"status": "complete"})
        assert [m["seq"] for m in s.recv_until("complete")] == [2, 3, 4]
    finally:
        s.close()
    assert status(client, job_id, user)["seq"] == 4


# -- server-sent events ------------------------------------------------------------------------------

def test_server_sent_events_stream_and_resume_with_last_event_id(worker, client, fake_runpod):
    user = user_with_input(client, "sse")
    job_id, cb = start_submitted(client, fake_runpod, user=user)
    wait_for(lambda: status(client, job_id, user)["seq"] == 1)
    headers = token_headers(user)
    with client.stream("GET", events_url(job_id), headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
        stream = read_events(r.iter_lines())
        first = next(stream)
        assert (first["id"], first["event"], first["data"]["status"]) == ("1", "status", "processing")
        callback(cb, {"status": "progress", "progress": 30})
        assert next(stream)["data"] == {"type": "progress", "job_id": job_id, "progress": 30, "seq": 2}
    # Dropped; meanwhile the job moves on. Resumed with the last id seen, as an EventSource does.
    callback(cb, {"status": "progress", "progress": 60, "message": "half"})
    with client.stream("GET", events_url(job_id), headers={**headers, "Last-Event-ID": "2"}) as r:
        stream = read_events(r.iter_lines())
        assert [next(stream)["id"]] == ["3"]
        callback(cb, {"status": "complete"})
        rest = list(stream)  # the stream ends after the event that ends the job
        assert [(e["id"], e["event"]) for e in rest] == [("4", "complete")]
    # Finished and fully seen: 204 tells an EventSource to stop; `?since=` works as the header does.
    assert client.get(events_url(job_id), headers={**headers, "Last-Event-ID": "4"}).status_code == 204
    r = client.get(events_url(job_id), params={"since": 2}, headers=headers)
    assert r.status_code == 200 and [e["id"] for e in read_events(iter(r.text.split("\n")))] == ["3", "4"]
    r = client.get(events_url(job_id), params={"token": user_token(user)})  # an EventSource's credential
    assert [e["data"]["status"] for e in read_events(iter(r.text.split("\n")))] == ["complete"]
    assert client.head(events_url(job_id), headers=headers).status_code == 200


def test_a_quiet_stream_gets_heartbeats_and_then_the_next_event(worker, client, fake_runpod):
    user = user_with_input(client, "quiet")
    job_id, cb = start_submitted(client, fake_runpod, user=user)
    with client.stream("GET", events_url(job_id), headers=token_headers(user)) as r:
        lines = r.iter_lines()
        began = time.monotonic()
        assert next(line for line in lines if line.startswith(":")) == ": keep-alive"  # within one period
        assert time.monotonic() - began < HEARTBEAT_S + 5
        callback(cb, {"status": "progress", "progress": 10})
        assert next(e for e in read_events(lines) if e["event"] == "progress")["data"]["progress"] == 10


def test_streams_are_bounded_and_a_client_that_leaves_frees_its_place(worker, client, fake_runpod):
    user = user_with_input(client, "crowded")
    job_id, _ = start_submitted(client, fake_runpod, user=user)
    per_job = 100  # durable_objects/event_streams.MAX_PER_JOB
    with httpx.Client(base_url=worker.base_url, timeout=30, limits=httpx.Limits(max_connections=None)) as many:
        opened = [many.stream("GET", events_url(job_id), headers=token_headers(user)) for _ in range(per_job)]
        responses = [o.__enter__() for o in opened]
        try:
            assert {r.status_code for r in responses} == {200}
            refused = many.get(events_url(job_id), headers=token_headers(user))
            assert refused.status_code == 503 and refused.json()["code"] == "too_many_streams"
            assert refused.headers["retry-after"]
            for o in opened[:10]:
                o.__exit__(None, None, None)  # those clients leave: their places come free

            def a_place_is_free() -> bool:
                with many.stream("GET", events_url(job_id), headers=token_headers(user)) as probe:
                    return probe.status_code == 200  # and it leaves again at once

            # Found gone at the next write to their stream: the heartbeat, every 15 s.
            wait_for(a_place_is_free, timeout=30, what="a place freed by a client that left", interval=0.5)
        finally:
            for o in opened[10:]:
                o.__exit__(None, None, None)


# -- long-polls ---------------------------------------------------------------------------------------

def test_a_long_poll_answers_within_100_ms_of_a_callback(worker, client, fake_runpod):
    user = user_with_input(client, "polling")
    job_id, cb = start_submitted(client, fake_runpod, user=user)
    seq = wait_for(lambda: status(client, job_id, user)["seq"])
    answered: dict = {}

    def poll() -> None:
        began = time.monotonic()
        r = client.get(f"/api/export/status/{job_id}", params={"wait_s": 20, "after_seq": seq},
                       headers=token_headers(user))
        answered.update(at=time.monotonic(), waited=time.monotonic() - began, body=r.json())

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(1)  # the poll is parked by now: what is measured is a parked poll's wake-up
    sent = time.monotonic()
    r = callback(cb, {"status": "progress", "progress": 70})
    acknowledged = time.monotonic()
    poller.join(30)
    assert r.status_code == 200 and answered["body"]["seq"] == seq + 1 and answered["body"]["progress"] == 70
    latency = answered["at"] - acknowledged
    print(f"long-poll: answered {1000 * (answered['at'] - sent):.1f} ms after the callback was sent, "
          f"{1000 * latency:.1f} ms after it was acknowledged")
    assert answered["waited"] >= 0.9 and latency < 0.1
    # Already past after_seq: at once. Nothing new within wait_s: the body as it is, at the end of the wait.
    began = time.monotonic()
    r = client.get(f"/api/export/status/{job_id}", params={"wait_s": 20, "after_seq": seq}, headers=token_headers(user))
    assert r.json()["seq"] == seq + 1 and time.monotonic() - began < 5
    began = time.monotonic()
    r = client.get(f"/api/export/status/{job_id}", params={"wait_s": 1}, headers=token_headers(user))
    assert r.status_code == 200 and r.json()["seq"] == seq + 1 and time.monotonic() - began >= 0.9


# -- refusals -----------------------------------------------------------------------------------------

def _ws_refusal(url: str) -> tuple[int, dict]:
    try:
        with connect(url, open_timeout=10):
            return 101, {}
    except InvalidStatus as exc:
        return exc.response.status_code, json.loads(exc.response.body)


def test_bad_since_and_waits_are_refused_as_json(worker, client, fake_runpod):
    user = user_with_input(client, "refusals")
    job_id, _ = start_submitted(client, fake_runpod, user=user)
    for since in ("-1", "abc", "", "1e3", "9" * 40):
        code, body = _ws_refusal(ws_url(worker, job_id, user) + f"&since={since}")
        assert code == 422 and body["code"] == "validation_error" and body["details"][0]["loc"] == ["query", "since"]
        r = client.get(events_url(job_id), params={"since": since}, headers=token_headers(user))
        assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    r = client.get(events_url(job_id), headers={**token_headers(user), "Last-Event-ID": "x"})
    assert r.status_code == 422 and r.json()["details"][0]["loc"] == ["header", "Last-Event-ID"]
    for params in ({"wait_s": 31}, {"wait_s": -1}, {"wait_s": "soon"}, {"wait_s": 1, "after_seq": -1}):
        r = client.get(f"/api/export/status/{job_id}", params=params, headers=token_headers(user))
        assert r.status_code == 422 and r.json()["code"] == "validation_error", (params, r.text)
    assert client.post(events_url(job_id), headers=token_headers(user)).status_code == 405


def test_another_users_job_is_not_found_through_every_new_door(worker, client, fake_runpod):
    owner = user_with_input(client, "owner")
    job_id, _ = start_submitted(client, fake_runpod, user=owner)
    assert _ws_refusal(ws_url(worker, job_id, "intruder") + "&since=0")[0] == 404
    r = client.get(events_url(job_id), headers=token_headers("intruder"))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get(f"/api/export/status/{job_id}", params={"wait_s": 5, "after_seq": 0},
                   headers=token_headers("intruder"))
    assert r.status_code == 404
    assert client.get(events_url(job_id)).status_code == 401


# -- a thousand subscribers ---------------------------------------------------------------------------

class Subscriber:
    """One WebSocket client of the job that, dropped before the end, comes back with `since`."""

    def __init__(self, url: str) -> None:
        self.url, self.seen, self.reconnects = url, [], 0
        self.ended = asyncio.Event()

    async def open(self) -> None:
        since = f"&since={self.seen[-1]['seq']}" if self.seen else ""
        self.ws = await async_connect(self.url + since, open_timeout=60, ping_interval=None, max_queue=None)
        if not self.seen:
            self.seen.append(json.loads(await asyncio.wait_for(self.ws.recv(), 30)))

    async def follow(self) -> None:
        while True:
            try:
                async for raw in self.ws:
                    message = json.loads(raw)
                    if message.get("seq", -1) > self.seen[-1]["seq"]:
                        self.seen.append(message)
                    if message.get("type") == "complete":
                        self.ended.set()
                        await self.ws.close()
                        return
            except ConnectionClosed:
                pass
            self.reconnects += 1
            await self.open()


async def test_a_thousand_subscribers_of_one_job_lose_nothing_after_eviction(worker, fake_runpod):
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        user = user_with_input(c, "thousand")
        job_id, cb = start_submitted(c, fake_runpod, user=user)
        wait_for(lambda: status(c, job_id, user)["seq"] == 1)
    subscribers = [Subscriber(ws_url(worker, job_id, user)) for _ in range(SUBSCRIBERS)]
    began = time.monotonic()
    for i in range(0, SUBSCRIBERS, 50):
        await asyncio.gather(*(s.open() for s in subscribers[i:i + 50]))
    connected_s = time.monotonic() - began
    assert {s.seen[0]["seq"] for s in subscribers} == {1}
    followers = [asyncio.create_task(s.follow()) for s in subscribers]
    try:
        before = worker.log_text().count("UserJobs: object constructed")
        await asyncio.sleep(EVICTION_IDLE_S)  # idle on purpose: nothing to await but the runtime's clock
        began = time.monotonic()
        async with httpx.AsyncClient(timeout=30) as http:
            for body in ({"status": "progress", "progress": 50}, {"status": "complete"}):
                assert (await http.post(cb, json=body)).status_code == 200
        await asyncio.wait_for(asyncio.gather(*(s.ended.wait() for s in subscribers)), 120)
        delivered_s = time.monotonic() - began
        assert worker.log_text().count("UserJobs: object constructed") > before, "the object was not evicted"
    finally:
        for task in followers:
            task.cancel()
    print(f"{SUBSCRIBERS} subscribers: connected in {connected_s:.1f} s; both events reached every one "
          f"{delivered_s:.2f} s after the first callback; reconnects {sum(s.reconnects for s in subscribers)}")
    assert all([m["seq"] for m in s.seen] == [1, 2, 3] for s in subscribers)
    assert all(s.seen[-1]["type"] == "complete" for s in subscribers)
