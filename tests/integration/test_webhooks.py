"""Webhooks on workerd against a local receiver (tests/fakes/webhook_receiver.py): every event signed
and verified with the client's `verify_webhook`, retries with one `webhook-id`, the delivery log,
redelivery, coalesced progress, refused URLs, and a SIGKILL while a delivery is out."""

from __future__ import annotations

import json
from contextlib import ExitStack

import httpx
import pytest
from reel_ballers_client import verify_webhook

from tests.conftest import SECRETS, put_object, token_headers, worker_env
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.export_support import OVERLAY_PARAMS, callback
from tests.waiting import wait_for

SCHEDULE = "1,1,1,1,1"  # six attempts, a second apart


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def make_worker(tmp_path_factory, fake_runpod):
    from tests.worker_process import worker as make_worker_process

    with ExitStack() as stack:
        def make():
            state = tmp_path_factory.mktemp("webhooks")
            env = worker_env(fake_runpod.url, WEBHOOK_HOSTS="127.0.0.1", WEBHOOK_RETRY_SCHEDULE_S=SCHEDULE)
            return stack.enter_context(make_worker_process(state, env))

        yield make


@pytest.fixture(scope="module")
def worker(make_worker):
    return make_worker()


@pytest.fixture
def client(worker):
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        put_object(c, "alice", "working_videos/in.mp4", b"video")
        yield c


def start(client, fake_runpod, webhook: str, events: list[str] | None = None) -> tuple[str, str]:
    """A started job with a webhook, once RunPod has it: (job id, its callback URL)."""
    fake_runpod.mode = "ok"
    body = {"project_id": 7, "input_key": "working_videos/in.mp4", "params": OVERLAY_PARAMS, "webhook": webhook}
    if events is not None:
        body["webhook_events"] = events
    r = client.post("/api/export/overlay/start", json=body, headers=token_headers("alice"))
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    run, _ = fake_runpod.run_for(job_id)
    # Processing once RunPod's answer is stored: a report before that would be the job's `started`.
    wait_for(lambda: client.get(f"/api/export/status/{job_id}", headers=token_headers("alice")).json()["status"]
             == "processing", what="the job processing")
    return job_id, run["input"]["callback_url"]


def verified(delivery: dict) -> dict:
    return verify_webhook(delivery["headers"], delivery["body"], SECRETS["WEBHOOK_SECRET"])


def deliveries(client, job_id: str) -> list[dict]:
    r = client.get(f"/api/export/jobs/{job_id}/deliveries", headers=token_headers("alice"))
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


def test_every_event_type_arrives_signed_and_verifies(client, fake_runpod, receiver):
    job_id, cb = start(client, fake_runpod, f"{receiver.url}/hooks", ["started", "progress", "completed"])
    receiver.wait_for(lambda got: any(verified(d)["event"] == "started" for d in got))
    assert callback(cb, {"status": "progress", "progress": 40}).status_code == 200
    receiver.wait_for(lambda got: any(verified(d)["event"] == "progress" for d in got))
    assert callback(cb, {"status": "complete", "output_key": "final_videos/o.mp4"}).status_code == 200
    got = receiver.wait_for(lambda got: any(verified(d)["event"] == "completed" for d in got))
    events = {verified(d)["event"]: verified(d) for d in got}
    assert events["started"]["status"] == "processing" and events["progress"]["progress"] == 40
    assert events["completed"]["status"] == "complete" and events["completed"]["job_id"] == job_id
    assert events["completed"]["output_key"] == "final_videos/o.mp4"
    assert all(d["path"] == "/hooks" and d["headers"]["content-type"] == "application/json" for d in got)
    assert len({d["headers"]["webhook-id"] for d in got}) == 3
    # The receiver has each; the Worker logs each answer once it is back.
    log = wait_for(lambda: (d := deliveries(client, job_id)) and all(x["state"] == "delivered" for x in d) and d,
                   what="every delivery logged as delivered")
    assert [d["event"] for d in log] == ["started", "progress", "completed"]
    assert all(d["attempts"][0]["status"] == 200 for d in log)
    # Only the events asked for: by default, `completed` alone.
    other, cb2 = start(client, fake_runpod, f"{receiver.url}/default")
    callback(cb2, {"status": "progress", "progress": 10})
    callback(cb2, {"status": "error", "error": "boom"})
    later = receiver.wait_for(lambda got: any(d["path"] == "/default" for d in got))
    [only] = [d for d in later if d["path"] == "/default"]
    assert verified(only)["event"] == "completed" and verified(only)["status"] == "error"
    assert [d["event"] for d in deliveries(client, other)] == ["completed"]


def test_a_failing_receiver_gets_the_same_delivery_until_it_answers_and_the_log_shows_each_attempt(
        client, fake_runpod, receiver):
    receiver.answers = [500, 500, 500, 500]  # then 200
    job_id, cb = start(client, fake_runpod, f"{receiver.url}/flaky")
    callback(cb, {"status": "complete"})
    got = receiver.wait_for(lambda got: len(got) >= 5, timeout=60)
    assert len({d["headers"]["webhook-id"] for d in got}) == 1  # one event, retried
    assert len({d["headers"]["webhook-timestamp"] for d in got}) >= 2  # each attempt signed anew
    [log] = wait_for(lambda: (d := deliveries(client, job_id)) and d[0]["state"] == "delivered" and d, timeout=10)
    assert [a["status"] for a in log["attempts"]] == [500, 500, 500, 500, 200]
    assert log["attempts"][0]["response_excerpt"] == "answered 500" and log["id"] == got[0]["headers"]["webhook-id"]
    # Sent again on request: the same id, with a sixth attempt in the log.
    r = client.post(f"/api/export/jobs/{job_id}/deliveries/{log['id']}/redeliver", headers=token_headers("alice"))
    assert r.status_code == 202 and r.json() == {"delivery_id": log["id"], "state": "pending"}
    again = receiver.wait_for(lambda got: len(got) >= 6)
    assert again[5]["headers"]["webhook-id"] == log["id"]
    wait_for(lambda: len(deliveries(client, job_id)[0]["attempts"]) == 6, timeout=10)
    missing = client.post(f"/api/export/jobs/{job_id}/deliveries/msg_nope/redeliver", headers=token_headers("alice"))
    assert missing.status_code == 404
    # Another user's job, and its log, do not exist for them.
    assert client.get(f"/api/export/jobs/{job_id}/deliveries", headers=token_headers("bob")).status_code == 404


def test_progress_is_coalesced_while_a_delivery_is_out(client, fake_runpod, receiver):
    job_id, cb = start(client, fake_runpod, f"{receiver.url}/progress", ["progress"])
    receiver.hold = True  # the first progress delivery waits at the receiver
    callback(cb, {"status": "progress", "progress": 1})
    receiver.wait_for(lambda got: len(got) == 1)
    for p in range(2, 12):
        assert callback(cb, {"status": "progress", "progress": p}).status_code == 200
    receiver.release()
    got = receiver.wait_for(lambda got: json.loads(got[-1]["body"])["progress"] == 11)
    assert len(got) == 2  # the one out, then only the latest of the ten that came meanwhile
    # In the log: the latest delivered progress only (the nine replaced before they were tried left no trace,
    # and the first, delivered, is forgotten once a newer one is).
    wait_for(lambda: [d["state"] for d in deliveries(client, job_id)] == ["delivered"], what="the log of one delivery")


@pytest.mark.parametrize(("webhook", "events"), [
    ("https://evil.test/hook", None), ("ftp://127.0.0.1/hook", None), ("http://user:pw@127.0.0.1/h", None),
    ("not a url", None), (None, ["completed"]),  # events with nowhere to send them
])
def test_urls_the_deployment_does_not_allow_are_refused_before_anything_is_created(client, webhook, events):
    body = {"project_id": 7, "input_key": "working_videos/in.mp4", "params": OVERLAY_PARAMS}
    body |= {k: v for k, v in (("webhook", webhook), ("webhook_events", events)) if v is not None}
    before = client.get("/api/export/jobs", headers=token_headers("alice")).json()["jobs"]
    r = client.post("/api/export/overlay/start", json=body, headers=token_headers("alice"))
    assert r.status_code == 400 and r.json()["code"] == "webhook_not_allowed", r.text
    assert client.get("/api/export/jobs", headers=token_headers("alice")).json()["jobs"] == before


def test_unknown_events_are_a_validation_error(client, receiver):
    body = {"project_id": 7, "input_key": "working_videos/in.mp4", "params": OVERLAY_PARAMS,
            "webhook": f"{receiver.url}/h", "webhook_events": ["finished"]}
    assert client.post("/api/export/overlay/start", json=body, headers=token_headers("alice")).status_code == 422


def test_a_sigkill_while_a_delivery_is_out_delivers_it_after_the_restart(make_worker, fake_runpod, receiver):
    w = make_worker()
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        put_object(c, "alice", "working_videos/in.mp4", b"video")
        job_id, cb = start(c, fake_runpod, f"{receiver.url}/crash")
        receiver.hold = True  # the delivery of `completed` arrives and waits: the Worker dies meanwhile
        callback(cb, {"status": "complete"})
        first = receiver.wait_for(lambda got: len(got) == 1)[0]
    w.kill()
    receiver.release()
    w.start()
    # Once the interrupted attempt would have timed out (10 s + 5 s), it is sent again: the same id.
    got = receiver.wait_for(lambda got: len(got) >= 2, timeout=60)
    assert got[1]["headers"]["webhook-id"] == first["headers"]["webhook-id"]
    assert verified(got[1])["status"] == "complete"
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        [log] = wait_for(lambda: (d := deliveries(c, job_id)) and d[0]["state"] == "delivered" and d, timeout=10)
    assert [a["status"] for a in log["attempts"]][-1] == 200
