"""The local RunPod-compatible endpoint (gpu_worker/local_endpoint.py): the cloud API's shapes, one job at a
time with the real handler, cancel, restarts, RunPod's `policy` (execution timeout, ttl, refusals), and an
export through the Worker that really renders."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import uvicorn

from gpu_worker.local_endpoint import STOPPED_WHILE_RUNNING, LocalEndpoint
from tests.conftest import REPO, put_object, token_headers, worker_env
from tests.gpu_worker.media import count_frames, frames_rgb, make_clip, pixel
from tests.waiting import wait_for
from tests.worker_process import worker as make_worker_process

KEY = "test-runpod-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET = "sig=feedc0ffee"
FAST = {"X264_PRESET": "ultrafast", "GPU_ENCODER": "libx264"}
SLOW = {**FAST, "GPU_RENDER_REALTIME": "1"}  # ffmpeg reads the input at its own pace: a render to watch or stop


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def endpoint_in_thread(state_dir: Path, worker_env_: dict[str, str]):
    endpoint = LocalEndpoint(KEY, state_dir, worker_env=worker_env_)
    server = uvicorn.Server(uvicorn.Config(endpoint.app(), host="127.0.0.1", port=_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "the endpoint to start")
    try:
        yield f"http://127.0.0.1:{server.config.port}/v2/local", endpoint
    finally:
        server.should_exit = True
        thread.join(20)


@contextlib.contextmanager
def endpoint_process(state_dir: Path, log_path: Path, extra_env: dict[str, str]):
    """`python -m gpu_worker.local_endpoint` as scripts/dev runs it; its log appended to `log_path`."""
    port = _port()
    env = {**os.environ, **extra_env, "GPU_PORT": str(port), "GPU_STATE_DIR": str(state_dir), "RUNPOD_API_KEY": KEY}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gpu_worker.local_endpoint"], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v2/local"

    def up():
        assert proc.poll() is None, log_path.read_text()
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{url}/health", headers=AUTH, timeout=2).status_code == 200
        return False

    wait_for(up, 30, "the endpoint process to answer")
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)



def job_input(storage, name="in.mp4", job_id=None, kind="overlay", params=None):
    job_id = job_id or uuid.uuid4().hex
    return {"job_id": job_id, "type": kind, "output_key": f"final_videos/{kind}_{job_id}.mp4",
            "params": params or {"highlight_regions": [{"start_frame": 0, "end_frame": 10, "x": 0.5, "y": 0.5,
                                                        "radius_x": 0.2, "radius_y": 0.3}], "effect_type": "dim"},
            "input_url": storage.url(f"/{name}?{SECRET}"), "output_url": storage.url(f"/out-{job_id}.mp4?{SECRET}"),
            "output_headers": {"Content-Type": "video/mp4"}, "callback_url": storage.url(f"/callback/{job_id}?{SECRET}")}


def submit(url, storage, webhook=True, policy=None, **kw) -> str:
    body = {"input": job_input(storage, **kw)}
    if webhook:
        body["webhook"] = storage.url(f"/webhook?{SECRET}")
    if policy is not None:
        body["policy"] = policy
    r = httpx.post(f"{url}/run", json=body, headers=AUTH)
    assert r.status_code == 200 and set(r.json()) == {"id", "status"} and r.json()["status"] == "IN_QUEUE", r.text
    return r.json()["id"]


def status(url, runpod_id) -> dict:
    r = httpx.get(f"{url}/status/{runpod_id}", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def status_code(url, runpod_id) -> int:
    return httpx.get(f"{url}/status/{runpod_id}", headers=AUTH).status_code


def reports_of(storage, job_id: str) -> list[dict]:
    """What the handler of that job reported to its callback URL."""
    return [c["body"] for c in storage.callbacks if c["path"].startswith(f"/callback/{job_id}")]


def webhooks(storage, runpod_id) -> list[dict]:
    return [c["body"] for c in storage.callbacks if c["path"].startswith("/webhook") and c["body"]["id"] == runpod_id]


def ffmpeg_of(job_id: str) -> list[int]:
    """Pids of ffmpeg processes working in that job's directory (the handler names it after the job)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                if b"ffmpeg" in cmdline[0] and any(f"rb-gpu-{job_id}-".encode() in arg for arg in cmdline):
                    pids.append(int(entry.name))
    return pids


def test_cloud_shapes_progress_completion_and_webhook(tmp_path, storage):
    storage.objects["/in.mp4"] = open(make_clip(tmp_path / "in.mp4", seconds=3), "rb").read()
    with endpoint_in_thread(tmp_path / "state", SLOW) as (url, _):
        for method, path in (("POST", "/run"), ("GET", "/status/x"), ("POST", "/cancel/x"), ("GET", "/health")):
            assert httpx.request(method, f"{url}{path}", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert httpx.post(f"{url}/run", content=b"[]", headers=AUTH).status_code == 400
        assert httpx.post(f"{url}/run", json={"input": "x"}, headers=AUTH).status_code == 400
        for path in ("/status/local-999", "/status/nope"):
            assert httpx.get(f"{url}{path}", headers=AUTH).status_code == 404
        assert httpx.post(f"{url}/cancel/local-999", headers=AUTH).status_code == 404

        runpod_id = submit(url, storage, job_id="shapes1")
        assert runpod_id.startswith("local-")
        running = wait_for(lambda: (s := status(url, runpod_id))["status"] == "IN_PROGRESS" and "output" in s and s,
                             30, "IN_PROGRESS with progress")
        assert set(running) == {"id", "status", "delayTime", "output"}
        assert set(running["output"]) == {"progress", "message"} and 0 <= running["output"]["progress"] < 100
        health = httpx.get(f"{url}/health", headers=AUTH).json()
        assert health["workers"] == {"idle": 0, "running": 1} and health["jobs"]["inProgress"] == 1

        done = wait_for(lambda: (s := status(url, runpod_id))["status"] == "COMPLETED" and s, 30, what="COMPLETED")
        assert done["output"] == {"status": "complete", "output_key": "final_videos/overlay_shapes1.mp4"}
        assert isinstance(done["delayTime"], int) and isinstance(done["executionTime"], int)
        storage.wait_for(lambda s: webhooks(s, runpod_id))
        assert webhooks(storage, runpod_id) == [done]
        assert httpx.get(f"{url}/health", headers=AUTH).json()["jobs"]["completed"] == 1
        # The handler's own reports went to the callback URL: progress going up, then complete.
        reports = [c["body"] for c in storage.callbacks if c["path"].startswith("/callback/shapes1")]
        progress = [b["progress"] for b in reports if b["status"] == "progress"]
        assert progress == sorted(set(progress)) and reports[-1]["status"] == "complete"
        # A cancel after the end changes nothing.
        assert httpx.post(f"{url}/cancel/{runpod_id}", headers=AUTH).json()["status"] == "COMPLETED"


def test_a_failing_job_is_failed_with_the_handlers_message(tmp_path, storage):
    storage.objects["/junk.mp4"] = b"not a video at all" * 50
    with endpoint_in_thread(tmp_path / "state", FAST) as (url, _):
        runpod_id = submit(url, storage, name="junk.mp4")
        failed = wait_for(lambda: (s := status(url, runpod_id))["status"] == "FAILED" and s, 30, what="FAILED")
        assert "not a readable video" in failed["error"] and SECRET not in failed["error"]
        storage.wait_for(lambda s: webhooks(s, runpod_id))
        assert webhooks(storage, runpod_id)[0]["status"] == "FAILED"


def test_one_job_at_a_time_and_cancel_stops_ffmpeg(tmp_path, storage):
    storage.objects["/in.mp4"] = open(make_clip(tmp_path / "in.mp4", seconds=20), "rb").read()
    with endpoint_in_thread(tmp_path / "state", SLOW) as (url, endpoint):
        first = submit(url, storage, job_id="cancel1")
        second = submit(url, storage, job_id="cancel2")
        third = submit(url, storage, job_id="cancel3")
        pids = wait_for(lambda: ffmpeg_of("cancel1"), 30, what="the first job's ffmpeg")
        assert status(url, first)["status"] == "IN_PROGRESS"
        assert status(url, second)["status"] == status(url, third)["status"] == "IN_QUEUE"  # one GPU: queued

        # A queued job is cancelled without ever running.
        assert httpx.post(f"{url}/cancel/{second}", headers=AUTH).json() == {"id": second, "status": "CANCELLED"}
        # The running one: its ffmpeg is gone.
        cancelled = httpx.post(f"{url}/cancel/{first}", headers=AUTH).json()
        assert cancelled["id"] == first and cancelled["status"] == "CANCELLED"
        wait_for(lambda: not ffmpeg_of("cancel1") and not any(Path(f"/proc/{p}").exists() for p in pids), 10,
                   "the cancelled job's ffmpeg to end")
        wait_for(lambda: not (endpoint.work_root / first).exists(), 10, "its files to be removed")
        storage.wait_for(lambda s: webhooks(s, first) and webhooks(s, second))
        assert webhooks(storage, first)[0]["status"] == webhooks(storage, second)[0]["status"] == "CANCELLED"
        # The next job in the queue runs; the cancelled ones stay cancelled and never report complete.
        wait_for(lambda: status(url, third)["status"] == "IN_PROGRESS", 30, what="the third job to start")
        httpx.post(f"{url}/cancel/{third}", headers=AUTH)
        wait_for(lambda: not ffmpeg_of("cancel3"), 10, "the third job's ffmpeg to end")
        assert status(url, first)["status"] == status(url, second)["status"] == "CANCELLED"
        wait_for(lambda: not any(endpoint.work_root.iterdir()), 10, "every job's files to be removed")
        for job_id in ("cancel1", "cancel2", "cancel3"):
            assert not any(c["body"].get("status") == "complete" for c in storage.callbacks
                           if c["path"].startswith(f"/callback/{job_id}"))


def test_bad_policies_are_refused_400_and_queue_nothing(tmp_path, storage):
    week = 7 * 24 * 3600 * 1000
    bad = ["x", [], 5000, {"executionTimeout": 4999}, {"executionTimeout": week + 1}, {"ttl": 9999},
           {"ttl": week + 1}, {"executionTimeout": 5000.0}, {"executionTimeout": "5000"}, {"ttl": True},
           {"ttl": 60_000, "timeout": 5000}, {"lowPriority": "yes"}]
    with endpoint_in_thread(tmp_path / "state", FAST) as (url, endpoint):
        for policy in bad:
            r = httpx.post(f"{url}/run", json={"input": job_input(storage), "policy": policy}, headers=AUTH)
            assert r.status_code == 400 and "policy" in r.json()["error"], (policy, r.text)
        assert endpoint.store.counts() == {}  # nothing was queued
        # RunPod's bounds themselves, nulls and lowPriority are accepted.
        for policy in ({"executionTimeout": 5000, "ttl": 10_000}, {"executionTimeout": week, "ttl": week},
                       {"ttl": None, "executionTimeout": None, "lowPriority": True}, {}):
            runpod_id = submit(url, storage, name="missing.mp4", policy=policy)
            httpx.post(f"{url}/cancel/{runpod_id}", headers=AUTH)


def test_execution_timeout_kills_a_long_job_timed_out(tmp_path, storage):
    storage.objects["/in.mp4"] = open(make_clip(tmp_path / "in.mp4", seconds=20), "rb").read()
    with endpoint_in_thread(tmp_path / "state", SLOW) as (url, endpoint):
        runpod_id = submit(url, storage, job_id="exec1", policy={"executionTimeout": 5000})
        pids = wait_for(lambda: ffmpeg_of("exec1"), 30, what="the job's ffmpeg")
        ended = wait_for(lambda: (s := status(url, runpod_id))["status"] not in ("IN_QUEUE", "IN_PROGRESS") and s,
                         30, "the job to end")
        assert ended["status"] == "TIMED_OUT" and "execution timeout (5 s)" in ended["error"], ended
        assert isinstance(ended["delayTime"], int) and isinstance(ended["executionTime"], int)
        assert 5000 <= ended["executionTime"] < 6500, ended  # killed at its timeout, not at the render's end
        wait_for(lambda: not ffmpeg_of("exec1") and not any(Path(f"/proc/{p}").exists() for p in pids), 10,
                 "the timed-out job's ffmpeg to end")
        wait_for(lambda: not (endpoint.work_root / runpod_id).exists(), 10, "its files to be removed")
        storage.wait_for(lambda s: webhooks(s, runpod_id))
        assert webhooks(storage, runpod_id) == [ended]
        assert not any(b["status"] == "complete" for b in reports_of(storage, "exec1"))


def test_ttl_drops_a_queued_job_and_times_out_a_running_one(tmp_path, storage):
    storage.objects["/in.mp4"] = open(make_clip(tmp_path / "in.mp4", seconds=20), "rb").read()
    storage.objects["/short.mp4"] = open(make_clip(tmp_path / "short.mp4", seconds=1), "rb").read()
    with endpoint_in_thread(tmp_path / "state", SLOW) as (url, _):
        # The one worker is busy with a long render that may live 16 s from its submission ...
        t0 = time.monotonic()
        running = submit(url, storage, job_id="ttl1", policy={"ttl": 16_000})
        wait_for(lambda: ffmpeg_of("ttl1"), 30, what="the first job's ffmpeg")
        # ... so a job that may live 10 s waits, then is forgotten as RunPod forgets it: 404, no webhook.
        queued = submit(url, storage, name="short.mp4", job_id="ttl2", policy={"ttl": 10_000})
        assert time.monotonic() - t0 < 5, "the first job took too long to start for this test's timing"
        assert status(url, queued) == {"id": queued, "status": "IN_QUEUE"}
        wait_for(lambda: status_code(url, queued) == 404, 20, "the queued job to be dropped")
        assert httpx.post(f"{url}/cancel/{queued}", headers=AUTH).status_code == 404
        # The running one ends TIMED_OUT at its ttl, with RunPod's times adding up to it.
        ended = wait_for(lambda: (s := status(url, running))["status"] != "IN_PROGRESS" and s, 20, "the first job to end")
        assert ended["status"] == "TIMED_OUT" and "ttl (16 s" in ended["error"], ended
        assert abs(ended["delayTime"] + ended["executionTime"] - 16_000) < 1000, ended
        wait_for(lambda: not ffmpeg_of("ttl1"), 10, "its ffmpeg to end")
        storage.wait_for(lambda s: webhooks(s, running))
        assert webhooks(storage, running) == [ended]
        health = httpx.get(f"{url}/health", headers=AUTH).json()
        assert health["jobs"]["inQueue"] == 0 and health["workers"]["running"] == 0
        # The dropped job never ran: its handler never reported and no webhook named it.
        assert reports_of(storage, "ttl2") == [] and webhooks(storage, queued) == []


def test_restart_fails_the_running_job_runs_the_queued_and_never_reuses_ids(tmp_path, storage):
    storage.objects["/in.mp4"] = open(make_clip(tmp_path / "in.mp4", seconds=20), "rb").read()
    storage.objects["/short.mp4"] = open(make_clip(tmp_path / "short.mp4", seconds=1), "rb").read()
    state, log = tmp_path / "state", tmp_path / "endpoint.log"
    with endpoint_process(state, log, SLOW) as (url, proc):
        running = submit(url, storage, job_id="restart1")
        queued = submit(url, storage, name="short.mp4", job_id="restart2")
        wait_for(lambda: ffmpeg_of("restart1"), 30, what="the first job's ffmpeg")
        os.killpg(proc.pid, signal.SIGKILL)  # a crash: nothing gets to clean up
        proc.wait(10)
        # The job's process sees the endpoint gone and takes its ffmpeg with it.
        wait_for(lambda: not ffmpeg_of("restart1"), 10, "the orphaned ffmpeg to end")

    work_root = LocalEndpoint(KEY, state).work_root
    assert (work_root / running).exists()  # the killed job's files, until the next start
    with endpoint_process(state, log, FAST) as (url, _):
        assert not (work_root / running).exists()
        failed = status(url, running)
        assert failed["status"] == "FAILED" and failed["error"] == STOPPED_WHILE_RUNNING
        storage.wait_for(lambda s: webhooks(s, running))
        assert webhooks(storage, running) == [failed]
        # The job still queued at the crash runs now.
        wait_for(lambda: status(url, queued)["status"] == "COMPLETED", 30, what="the queued job to complete")
        fresh = submit(url, storage, name="short.mp4", job_id="restart3")
        assert fresh not in (running, queued)
        wait_for(lambda: status(url, fresh)["status"] == "COMPLETED", 30, what="a new job to complete")

    text = log.read_text()
    assert running in text and "FAILED" in text  # the log says what happened to the job
    for leak in ("sig=", SECRET, "127.0.0.1:" + str(storage.port), "/in.mp4", "webhook?"):
        assert leak not in text, leak


def test_a_clean_stop_fails_the_running_job_at_once(tmp_path, storage):
    storage.objects["/in.mp4"] = open(make_clip(tmp_path / "in.mp4", seconds=20), "rb").read()
    state = tmp_path / "state"
    with endpoint_in_thread(state, SLOW) as (url, _):
        runpod_id = submit(url, storage, job_id="stop1")
        wait_for(lambda: ffmpeg_of("stop1"), 30, what="the job's ffmpeg")
    # Leaving the block stopped the server (its lifespan's shutdown): the job failed and its webhook went out.
    assert webhooks(storage, runpod_id)[0]["status"] == "FAILED"
    wait_for(lambda: not ffmpeg_of("stop1"), 10, "the job's ffmpeg to end")
    with endpoint_in_thread(state, FAST) as (url, _):
        assert status(url, runpod_id)["error"] == STOPPED_WHILE_RUNNING


def test_export_renders_end_to_end_through_the_worker(tmp_path):
    """scripts/dev's setup: the Worker on workerd + Pyodide sends an export to the local endpoint."""
    clip = Path(make_clip(tmp_path / "game.mp4", seconds=2))
    with endpoint_in_thread(tmp_path / "gpu-state", FAST) as (url, endpoint), \
            make_worker_process(tmp_path / "worker", worker_env(url)) as w, \
            httpx.Client(base_url=w.base_url, timeout=30) as c:
        put_object(c, "dev", "working_videos/game.mp4", clip.read_bytes())
        body = {"project_id": 1, "input_key": "working_videos/game.mp4",
                "params": {"highlight_regions": [{"start_frame": 0, "end_frame": 29, "x": 0.5, "y": 0.5,
                                                  "radius_x": 0.2, "radius_y": 0.3}], "effect_type": "dim"}}
        job_id = c.post("/api/export/overlay/start", json=body, headers=token_headers("dev")).json()["job_id"]

        def finished():
            job = c.get(f"/api/export/status/{job_id}", headers=token_headers("dev")).json()
            assert job["status"] in ("pending", "processing", "complete"), job
            return job["status"] == "complete" and job

        job = wait_for(finished, 60, "the export to complete")
        assert job["progress"] == 100 and "message" not in job  # no stale "rendering overlay" once complete
        signed = c.get(job["output_url"], headers=token_headers("dev")).json()["url"]
        rendered = httpx.get(signed).content
    assert rendered != clip.read_bytes()
    out = tmp_path / "out.mp4"
    out.write_bytes(rendered)
    assert count_frames(out)[0] == 30
    source, result = frames_rgb(clip, [10], 320, 180)[10], frames_rgb(out, [10], 320, 180)[10]
    corner = [sum(pixel(f, 320, 5, 170)) for f in (source, result)]
    assert corner[1] < 0.6 * corner[0]  # outside the ellipse: dimmed
