"""The scheduler in front of RunPod on workerd (docs/api.md "Scheduling"), against a fake RunPod that
counts the jobs running at once: limits of 2 per user and 4 in all, round robin between users, positions
that move (status and WebSocket), aging of priorities, a cancelled queued job never at RunPod, a job the
watchdog ends freeing its slot, the operators' view (server key), and a SIGKILL mid-scheduling that loses
no job, submits none twice and leaks no slot."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from datetime import datetime

import httpx
import pytest

from tests.conftest import put_object, server_headers, token_headers, worker_env
from tests.integration.export_support import OVERLAY_PARAMS, Socket, callback, status, ws_url
from tests.waiting import wait_for

LIMITS = {"MAX_ACTIVE_PER_USER": "2", "MAX_ACTIVE_TOTAL": "4"}
STEP_S = 0.5  # one level of priority: the aging test's stream of priority-9 jobs passes a priority-0 one in 4.5 s


@pytest.fixture(scope="module")
def worker(tmp_path_factory, fake_runpod):
    from tests.worker_process import worker as make_worker_process

    env = worker_env(fake_runpod.url, PRIORITY_STEP_S=str(STEP_S), **LIMITS)
    with make_worker_process(tmp_path_factory.mktemp("scheduler"), env) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(worker):
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        yield c


def start(c: httpx.Client, user: str, **extra) -> dict:
    body = {"project_id": 7, "input_key": "working_videos/in.mp4", "params": OVERLAY_PARAMS, **extra}
    r = c.post("/api/export/overlay/start", json=body, headers=token_headers(user))
    assert r.status_code == 202, r.text
    return r.json()


def finish(fake, job_id: str, report: dict | None = None) -> None:
    """The GPU worker ends the job: RunPod stops counting it first, then the report goes to the Worker."""
    run, _ = fake.run_for(job_id)
    fake.end(job_id)
    callback(run["input"]["callback_url"], report or {"status": "complete"})


def scheduler(c: httpx.Client) -> dict:
    r = c.get("/api/scheduler", headers=server_headers())
    assert r.status_code == 200, r.text
    return r.json()


def all_free(c: httpx.Client, timeout: float = 20) -> dict:
    return wait_for(lambda: (s := scheduler(c))["slots_in_use"] == 0 and not s["waiting"] and s, timeout,
                    "every slot free and nobody waiting")


def run_order(fake, job_ids: list[str]) -> list[str]:
    """The jobs of `job_ids` in the order RunPod first got them."""
    seen = [run["input"]["job_id"] for run in list(fake.runs)]
    return [j for j in dict.fromkeys(seen) if j in set(job_ids)]


def test_limits_round_robin_and_positions_moving(client, fake_runpod, worker):
    users = ("a20", "b2")
    for user in users:
        put_object(client, user, "working_videos/in.mp4", b"video")
    fake_runpod.reset_concurrency()
    a = [start(client, "a20") for _ in range(20)]
    b = [start(client, "b2") for _ in range(2)]
    # Answered 202 as before: the first two of a and both of b at once, the rest of a queued with positions.
    assert [s["status"] for s in a[:2] + b] == ["pending"] * 4
    assert [(s["status"], s["queue_position"]) for s in a[2:5]] == [("queued", 1), ("queued", 2), ("queued", 3)]
    a_ids, b_ids = [s["job_id"] for s in a], [s["job_id"] for s in b]
    for job_id in a_ids[:2] + b_ids:
        fake_runpod.run_for(job_id)
    waiting = scheduler(client)
    assert waiting["slots_in_use"] == 4 and waiting["waiting"].get("a20") == 18
    assert waiting["limits"] == {"per_user": 2, "total": 4}

    # A queued job's position moves as the jobs ahead of it end: on its WebSocket and in its status.
    watched = a_ids[5]
    socket = Socket(ws_url(worker, watched, user="a20"))
    try:
        first = socket.recv()
        assert first["status"] == "queued" and first["queue_position"] == 4, first
        assert status(client, watched, "a20")["queue_position"] == 4
        finish(fake_runpod, a_ids[0])
        fake_runpod.run_for(a_ids[2])  # a's turn: its third job
        moved = socket.recv(timeout=15)
        assert moved == {"type": "queued", "job_id": watched, "position": 3, "seq": first["seq"] + 1}
        assert status(client, watched, "a20")["queue_position"] == 3
        finish(fake_runpod, a_ids[1])  # a's turn again (b is at its limit, with nothing waiting)
        fake_runpod.run_for(a_ids[3])
        assert socket.recv(timeout=15) == {"type": "queued", "job_id": watched, "position": 2, "seq": moved["seq"] + 1}
    finally:
        socket.close()

    # The rest, one end at a time (the oldest running first): never more than 2 of a's or 4 in all at RunPod.
    def next_end() -> bool:
        running = fake_runpod.running()
        if running:
            finish(fake_runpod, running[0])
        return all(status(client, j, u)["status"] == "complete" for j, u in [*((j, "a20") for j in a_ids),
                                                                             *((j, "b2") for j in b_ids)])

    wait_for(next_end, 120, "every job run and ended", interval=0.1)
    assert all(status(client, j, "a20")["status"] == "complete" for j in a_ids)
    assert fake_runpod.max_active <= 4 and fake_runpod.max_active_by_user["a20"] == 2
    assert fake_runpod.max_active_by_user["b2"] == 2 and fake_runpod.max_active == 4
    order = run_order(fake_runpod, a_ids + b_ids)
    assert order.index(b_ids[1]) < order.index(a_ids[2]) < order.index(a_ids[3])  # b's before a's third and fourth
    assert all(fake_runpod.runs_of(j) == 1 for j in a_ids + b_ids)
    all_free(client)


def test_aging_runs_a_low_priority_job_under_a_stream_of_high_ones(client, fake_runpod):
    user = "ager"
    put_object(client, user, "working_videos/in.mp4", b"video")
    running = [start(client, user, priority=9)["job_id"] for _ in range(2)]
    low = start(client, user, priority=0)
    assert low["status"] == "queued" and low["job"]["priority"] == 0
    created: dict[str, datetime] = {low["job_id"]: datetime.fromisoformat(low["job"]["created_at"])}
    for job_id in running:
        fake_runpod.run_for(job_id)
    deadline = time.monotonic() + 60
    while fake_runpod.runs_of(low["job_id"]) == 0:
        assert time.monotonic() < deadline, "the priority-0 job never ran"
        high = start(client, user, priority=9)
        created[high["job_id"]] = datetime.fromisoformat(high["job"]["created_at"])
        oldest = fake_runpod.running(user)[0]
        finish(fake_runpod, oldest)
        wait_for(lambda o=oldest: len(fake_runpod.running(user)) == 2 and o not in fake_runpod.running(user), 15,
                 "the freed slot taken")
        time.sleep(0.3)
    order = run_order(fake_runpod, list(created))
    before_low = order[:order.index(low["job_id"])]
    aged = created[low["job_id"]].timestamp() + 9 * STEP_S
    # Priority counts (a later priority-9 job went first) and so does age (none created 9 steps after it did).
    assert any(created[j] > created[low["job_id"]] for j in before_low)
    assert all(created[j].timestamp() < aged + 0.05 for j in before_low)
    assert any(created[j].timestamp() > aged for j in created if j not in before_low and j != low["job_id"])
    for job_id in [j for j in created if status(client, j, user)["status"] == "queued"]:
        assert client.post(f"/api/export/jobs/{job_id}/cancel", headers=token_headers(user)).status_code == 200
    for job_id in fake_runpod.running(user):
        finish(fake_runpod, job_id)
    all_free(client)


def test_a_cancelled_queued_job_never_reaches_runpod(client, fake_runpod):
    user = "canceller"
    put_object(client, user, "working_videos/in.mp4", b"video")
    first, second = start(client, user)["job_id"], start(client, user)["job_id"]
    queued = start(client, user)
    assert queued["status"] == "queued"
    assert scheduler(client)["waiting"].get(user) == 1
    r = client.post(f"/api/export/jobs/{queued['job_id']}/cancel", headers=token_headers(user))
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and "queue_position" not in r.json()
    wait_for(lambda: user not in scheduler(client)["waiting"], 15, "the cancelled job out of the queue")
    for job_id in (first, second):
        finish(fake_runpod, job_id)
    all_free(client)
    assert fake_runpod.runs_of(queued["job_id"]) == 0
    assert status(client, queued["job_id"], user)["status"] == "cancelled"


def test_a_job_whose_end_never_comes_frees_its_slot_by_its_deadline(client, fake_runpod):
    user = "silent"
    put_object(client, user, "working_videos/in.mp4", b"video")
    stuck = [start(client, user, execution_timeout_s=5)["job_id"] for _ in range(2)]
    waiting = start(client, user)["job_id"]
    for job_id in stuck:  # a GPU runs each, then says nothing more
        run, _ = fake_runpod.run_for(job_id)
        callback(run["input"]["callback_url"], {"status": "progress", "progress": 5})
    fake_runpod.run_for(waiting, timeout=30)  # the watchdog ended one (timed_out): its slot went to the next
    wait_for(lambda: {status(client, j, user)["status"] for j in stuck} == {"timed_out"}, 15, "both timed out")
    finish(fake_runpod, waiting)
    all_free(client)


def test_the_scheduler_view_is_the_servers(client):
    assert client.get("/api/scheduler").status_code == 401
    assert client.get("/api/scheduler", headers=token_headers("a20")).status_code == 403
    assert client.get("/api/scheduler", headers=server_headers("a20")).status_code == 200
    assert set(scheduler(client)) >= {"limits", "slots_in_use", "slots", "waiting"}


# -- a SIGKILL mid-scheduling (a Worker of its own) ------------------------------------------------

ANSWER_MARGIN_S = 3.0  # as test_crash_safety.py: a /run answered just before a kill may not be stored


@pytest.fixture
def own_worker(tmp_path, fake_runpod):
    from tests.worker_process import worker as make_worker_process

    with ExitStack() as stack:
        yield stack.enter_context(make_worker_process(tmp_path / "w", worker_env(fake_runpod.url, **LIMITS)))


@pytest.mark.timeout(600)
def test_sigkill_mid_scheduling_loses_nothing_submits_nothing_twice_and_leaks_no_slot(own_worker, fake_runpod):
    w, kills = own_worker, []
    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        for user in ("ka", "kb"):
            put_object(c, user, "working_videos/in.mp4", b"video")
        fake_runpod.reset_concurrency()
        jobs = {start(c, "ka")["job_id"]: "ka" for _ in range(8)} | {start(c, "kb")["job_id"]: "kb" for _ in range(3)}
        wait_for(lambda: len(fake_runpod.running()) == 4, 20, "four jobs at RunPod")

    def finish_quietly(job_id: str) -> None:
        try:
            finish(fake_runpod, job_id)
        except httpx.HTTPError:
            pass  # killed under it: the job is reported again

    def report_lost(c: httpx.Client) -> dict[str, str]:
        """Report again the end of every job a kill swallowed the report of; every job's status."""
        states = {j: status(c, j, u)["status"] for j, u in jobs.items()}
        for job_id, state in states.items():
            if state == "processing" and job_id not in fake_runpod.running():
                finish_quietly(job_id)
        return states

    # Two jobs end (their slots go to waiting jobs: releases, grants pushed, submissions) and the Worker is
    # killed a moment into that, four times; each time after it restarted and has two jobs at RunPod.
    for delay in (0.0, 0.05, 0.15, 0.4):
        with httpx.Client(base_url=w.base_url, timeout=30) as c:
            wait_for(lambda c=c: report_lost(c) and len(fake_runpod.running()) >= 2, 90, "two jobs at RunPod")
        ending = [threading.Thread(target=finish_quietly, args=(j,)) for j in fake_runpod.running()[:2]]
        for t in ending:
            t.start()
        time.sleep(delay)
        sent = time.monotonic()
        w.kill()
        kills.append((sent, time.monotonic()))
        for t in ending:
            t.join(30)
        w.start()

    with httpx.Client(base_url=w.base_url, timeout=30) as c:
        def settled() -> bool:
            for job_id in fake_runpod.running():
                finish_quietly(job_id)
            return all(s == "complete" for s in report_lost(c).values())

        wait_for(settled, 120, "every job complete", interval=0.5)
        assert all_free(c)["slots"] == []

    assert fake_runpod.max_active <= 4 and max(fake_runpod.max_active_by_user.values()) <= 2
    first_run: dict[str, tuple[float, float | None]] = {}
    for job_id, received, answered in fake_runpod.run_times:
        if job_id not in jobs:
            continue
        if job_id not in first_run:
            first_run[job_id] = (received, answered)
            continue
        r, a = first_run[job_id]
        lost = any(r <= gone and sent <= received and (a is None or a >= sent - ANSWER_MARGIN_S) for sent, gone in kills)
        assert lost, f"job {job_id} was submitted twice though its first answer arrived"
    assert set(first_run) == set(jobs)
