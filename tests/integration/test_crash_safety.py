"""SIGKILL of the whole Worker (wrangler + workerd) at many points of starts, callbacks, cancels,
claims and alarm runs; after each restart nothing is lost, stuck or submitted twice.

One Worker, one user, cycle after cycle: a workload runs, the test kills the process group at a
point it chooses (a moment of a burst, or while the Worker's request to RunPod is held open by the
fake), starts the Worker again on the same stored state, and goes on. At the end RunPod reports
every job finished, and the test checks that:
- every job the API ever named, and every job RunPod ever saw, is listed and reaches a terminal
  state (its alarm survived: the watchdog polls RunPod every 2 s);
- no job was sent to RunPod twice, unless the first /run was still in flight at a kill (its answer
  was lost, so a second attempt is the only safe move);
- the user's database in R2 holds every job, with the status its object has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import put_object, token_headers, user_database_statuses, worker_env
from tests.waiting import wait_for
from tests.worker_process import worker as make_worker_process

USER = "crashy"
BODY = {"project_id": 3, "input_key": "working_videos/in.mp4",
        "params": {"highlight_regions": [], "effect_type": "dim"}}
# How long after a /run was answered the Worker may still not have stored its answer when killed.
# Milliseconds on a quiet machine; over 1 s was seen with the 2 cores shared by the Worker, the test's
# threads, the fake RunPod and other suites' Workers.
ANSWER_MARGIN_S = 3.0


class Workload:
    """What the test did and learnt, across every cycle."""

    def __init__(self, worker, fake) -> None:
        self.worker, self.fake = worker, fake
        self.named: set[str] = set()  # job ids the API answered with
        # Each kill as (when it was sent, when the Worker's processes were gone): a /run the Worker sent
        # just before it died can reach the fake after the first of the two.
        self.kills: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.worker.base_url, timeout=20)

    def start(self, idempotency_key: str | None = None) -> str | None:
        headers = token_headers(USER) | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})
        try:
            with self.client() as c:
                r = c.post("/api/export/overlay/start", json=BODY, headers=headers)
        except httpx.HTTPError:
            return None  # killed under it: the job may or may not exist; the final listing says
        assert r.status_code == 202, r.text
        with self.lock:
            self.named.add(r.json()["job_id"])
        return r.json()["job_id"]

    def callback(self, job_id: str, progress: int) -> None:
        run, _ = self.fake.run_for(job_id)
        try:
            r = httpx.post(run["input"]["callback_url"], json={"status": "progress", "progress": progress}, timeout=20)
        except httpx.HTTPError:
            return
        assert r.status_code == 200, r.text

    def cancel(self, job_id: str) -> None:
        try:
            with self.client() as c:
                r = c.post(f"/api/export/jobs/{job_id}/cancel", headers=token_headers(USER))
        except httpx.HTTPError:
            return
        assert r.status_code in (200, 409), r.text

    def burst(self, calls: list[Callable[[], object]], kill_after_s: float) -> None:
        """Run `calls` concurrently and SIGKILL the Worker `kill_after_s` into the burst."""
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            futures = [pool.submit(call) for call in calls]
            time.sleep(kill_after_s)  # the kill point itself: a moment, not a condition
            self.kill()
            for f in futures:
                f.result()

    def kill(self) -> None:
        sent = time.monotonic()
        self.worker.kill()
        self.kills.append((sent, time.monotonic()))

    def kill_while_held(self, route: str, trigger: Callable[[], object]) -> None:
        """SIGKILL while the Worker's request to RunPod's `route` is in flight (held by the fake)."""
        hold = self.fake.hold(route)
        thread = threading.Thread(target=trigger)
        thread.start()
        assert hold.arrived.wait(30), f"the Worker never called RunPod {route}"
        self.kill()
        hold.release()
        thread.join(30)

    def restart(self) -> None:
        self.worker.start()


def listed_jobs(c: httpx.Client) -> dict[str, dict]:
    jobs, cursor = {}, None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = c.get("/api/export/jobs", params=params, headers=token_headers(USER)).json()
        jobs.update({j["job_id"]: j for j in page["jobs"]})
        cursor = page["next_cursor"]
        if not cursor:
            return jobs


@pytest.fixture
def crash_worker(tmp_path, fake_runpod):
    w = make_worker_process(tmp_path / "w", worker_env(fake_runpod.url, STALL_POLL_S="2", SUBMIT_RETRY_BASE_S="0.2"))
    w.start()
    yield w
    w.stop()


@pytest.mark.timeout(600)  # ten kills and restarts of ~13 s each, then the jobs settle
def test_sigkill_at_many_points_loses_nothing(crash_worker, fake_runpod, tmp_path):
    fake_runpod.mode = "ok"
    fake_runpod.complete_all = False
    load = Workload(crash_worker, fake_runpod)
    with load.client() as c:
        put_object(c, USER, "working_videos/in.mp4", b"video")
    running = [load.start() for _ in range(3)]
    for job_id in running:
        fake_runpod.run_for(job_id)

    # 1-3: while the Worker's own call to RunPod is in flight: submission, watchdog poll, cancel.
    load.kill_while_held("run", load.start)
    load.restart()
    load.kill_while_held("status", lambda: None)  # the watchdog polls every 2 s by itself
    load.restart()
    load.kill_while_held("cancel", lambda: load.cancel(running[0]))
    load.restart()
    # 4-7: a moment into a burst of concurrent starts; the last lands on the alarms that follow it
    # (submissions, index and database updates).
    for delay in (0.05, 0.25, 0.6, 1.5):
        load.burst([load.start for _ in range(10)], delay)
        load.restart()
    # 8-9: into a burst of callbacks to running jobs, and one of cancels.
    load.burst([lambda p=p, j=j: load.callback(j, p) for j in running[1:] for p in (10, 20, 30, 40)], 0.05)
    load.restart()
    fresh = [load.start() for _ in range(6)]
    load.burst([lambda j=j: load.cancel(j) for j in fresh], 0.1)
    load.restart()
    # 10: into a burst of idempotent starts: claims and replays of the same keys.
    load.burst([lambda k=k: load.start(f"key-{k % 3}") for k in range(9)], 0.1)
    load.restart()
    assert len(load.kills) == 10

    # RunPod now reports everything finished; the watchdog of every live job must notice.
    fake_runpod.complete_all = True
    with load.client() as c:
        def settled():
            jobs = listed_jobs(c)
            return jobs if all(j["status"] in ("complete", "cancelled", "error") for j in jobs.values()) else None

        jobs = wait_for(settled, 120, "every listed job terminal", interval=0.25)
        seen_by_runpod = {run["input"]["job_id"] for run in fake_runpod.runs}
        assert load.named <= set(jobs), load.named - set(jobs)
        assert seen_by_runpod <= set(jobs), seen_by_runpod - set(jobs)
        for job_id in jobs:  # the index agrees with each job's own object
            assert c.get(f"/api/export/status/{job_id}", headers=token_headers(USER)).json()["status"] == \
                jobs[job_id]["status"]

        # Never a second /run for a job unless the first one's answer may have been lost to a kill.
        first_run: dict[str, tuple[float, float | None]] = {}
        for job_id, received, answered in fake_runpod.run_times:
            if job_id not in first_run:
                first_run[job_id] = (received, answered)
                continue
            r, a = first_run[job_id]
            # A kill while or after the first /run arrived, before this one, and before its answer was surely stored.
            lost = any(r <= gone and sent <= received and (a is None or a >= sent - ANSWER_MARGIN_S)
                       for sent, gone in load.kills)
            assert lost, f"job {job_id} was submitted twice though its first answer arrived"

        # The user's database holds every job with its object's status.
        wait_for(lambda: user_database_statuses(c, USER) == {j: v["status"] for j, v in jobs.items()}, 60,
                 "the user's database agrees with the job objects", interval=0.25)
