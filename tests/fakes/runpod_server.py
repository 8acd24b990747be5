"""A fake RunPod serverless endpoint that follows the cloud API shapes, for tests and benchmarks.

It runs uvicorn in a background thread on 127.0.0.1. Tests steer it: `mode` decides how `/run`
answers; `set_status` decides what `/status/{id}` says (`complete_all` makes every known job
COMPLETED); `hold(route)` keeps the next request to a route waiting until the test releases it, so a
test can crash the Worker while that request is in flight; `down()`/`up()` stop and restart it on
the same port to simulate an outage. Everything it receives is recorded, /run with the times it
was received and answered.

It also counts the jobs running at once, as a GPU endpoint would have them: a job accepted by /run is
active until it ends — cancelled, reported finished by `set_status`, or ended by the test with `end`
(call it before sending the job's terminal callback, so the Worker cannot start the next job before
the count has dropped). `max_active` and `max_active_by_user` are the most jobs seen at once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

ENDPOINT_PATH = "/v2/fake-endpoint"


class Hold:
    """A request held by the fake: `arrived` is set when it is waiting, `release()` lets it answer."""

    def __init__(self) -> None:
        self.arrived, self.released = threading.Event(), threading.Event()

    def release(self) -> None:
        self.released.set()


_WEEK_MS = 7 * 24 * 3600 * 1000
_ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
# RunPod's bounds of a job's `policy` (ms): its TTL at least 10 s, its execution timeout at least 5 s.
_POLICY_BOUNDS = {"ttl": (10_000, _WEEK_MS), "executionTimeout": (5_000, _WEEK_MS)}


def _policy_refusal(policy: Any) -> str | None:
    if policy is None:
        return None
    if not isinstance(policy, dict):
        return "policy must be an object"
    for name, (low, high) in _POLICY_BOUNDS.items():
        value = policy.get(name)
        if value is not None and (type(value) is not int or not low <= value <= high):
            return f"policy.{name} must be an integer from {low} to {high} ms"
    return None


class FakeRunPod:
    def __init__(self, api_key: str = "test-runpod-key") -> None:
        self.api_key = api_key
        self.mode = "ok"  # ok | fail | unavailable | reject | hang | bad_json
        self.runs: list[dict] = []  # /run bodies, in order
        self.run_ids: list[str] = []  # the RunPod id given to each accepted run
        self.status_calls: list[str] = []
        self.cancel_calls: list[str] = []
        self._statuses: dict[str, dict] = {}
        self.run_times: list[tuple[str, float, float | None]] = []  # (job id, received, answered) per /run
        self.complete_all = False  # every known job reports COMPLETED on /status
        self.active: dict[str, tuple[str, str]] = {}  # RunPod id -> (user id, job id): accepted, not yet ended
        self.max_active = 0
        self.max_active_by_user: dict[str, int] = {}
        self._holds: dict[str, Hold] = {}
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)  # notified on every accepted /run
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ENDPOINT_PATH}"

    # -- controls -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to answering every call normally (tests/conftest.py runs this after each test, so a
        test that fails half way never leaves `reject` or `hang` on for the next). Records stay."""
        self.mode = "ok"
        self.complete_all = False
        with self._lock:
            held, self._holds = list(self._holds.values()), {}
        for hold in held:
            hold.release()

    def set_status(self, runpod_id: str, body: dict) -> None:
        with self._lock:
            self._statuses[runpod_id] = body
            if body is None or body.get("status") in _ENDED:
                self.active.pop(runpod_id, None)

    def end(self, job_id: str) -> None:
        """The job no longer runs, whatever its runs (the test is about to report its end)."""
        with self._lock:
            for runpod_id in [r for r, (_, job) in self.active.items() if job == job_id]:
                del self.active[runpod_id]

    def running(self, user_id: str | None = None) -> list[str]:
        """The job ids running now (of `user_id`), oldest first."""
        with self._lock:
            return list(dict.fromkeys(job for user, job in self.active.values() if user_id in (None, user)))

    def reset_concurrency(self) -> None:
        with self._lock:
            self.max_active, self.max_active_by_user = len(set(self.active.values())), {}

    def _started(self, runpod_id: str, user_id: str, job_id: str) -> None:
        """Under the lock: one more job running (counted once however many runs it has)."""
        self.active[runpod_id] = (user_id, job_id)
        jobs = set(self.active.values())
        self.max_active = max(self.max_active, len(jobs))
        mine = sum(user == user_id for user, _ in jobs)
        self.max_active_by_user[user_id] = max(self.max_active_by_user.get(user_id, 0), mine)

    def forget(self, runpod_id: str) -> None:
        """RunPod no longer knows the job (its worker vanished, its TTL passed): /status answers 404."""
        with self._lock:
            self._statuses.pop(runpod_id, None)

    def wait_for_runs(self, n: int, timeout: float = 15.0) -> list[dict]:
        with self._received:
            if not self._received.wait_for(lambda: len(self.runs) >= n, timeout):
                raise AssertionError(f"fake RunPod got {len(self.runs)} runs, expected {n}")
            return list(self.runs)

    def run_for(self, job_id: str, timeout: float = 15.0) -> tuple[dict, str]:
        """The first accepted /run body of `job_id` and the RunPod id it got, once it has arrived."""
        def found() -> int | None:
            return next((i for i, run in enumerate(self.runs) if run["input"].get("job_id") == job_id), None)

        with self._received:
            if not self._received.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"fake RunPod got no /run for job {job_id} within {timeout} s")
            i = found()
            return self.runs[i], self.run_ids[i]

    def runs_of(self, job_id: str) -> int:
        with self._lock:
            return sum(run["input"].get("job_id") == job_id for run in self.runs)

    def hold(self, route: str) -> Hold:
        """The next request to `route` ("run", "status" or "cancel") waits until `release()`."""
        hold = Hold()
        with self._lock:
            self._holds[route] = hold
        return hold

    async def _maybe_held(self, route: str) -> None:
        with self._lock:
            hold = self._holds.pop(route, None)
        if hold is not None:
            hold.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, hold.released.wait, 60)

    # -- the endpoint -----------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    async def _run(self, request: Request) -> Any:
        if not self._authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        body = await request.json()
        refused = _policy_refusal(body.get("policy"))
        if refused:
            return JSONResponse({"error": refused}, status_code=400)
        received = time.monotonic()
        await self._maybe_held("run")
        mode = self.mode
        if mode == "hang":
            await asyncio.sleep(60)
        if mode == "fail":
            return JSONResponse({"error": "internal"}, status_code=500)
        if mode == "unavailable":
            return JSONResponse({"error": "no workers"}, status_code=503)
        if mode == "reject":
            return JSONResponse({"error": "input validation failed"}, status_code=400)
        with self._lock:
            self.runs.append(body)
            runpod_id = f"rp-{len(self.runs)}-{int(time.time() * 1000) % 100000}"
            self.run_ids.append(runpod_id)
            self._statuses[runpod_id] = {"id": runpod_id, "status": "IN_QUEUE"}
            self.run_times.append((body["input"].get("job_id"), received, None))
            self._started(runpod_id, body["input"].get("user_id"), body["input"].get("job_id"))
            self._received.notify_all()
        if mode == "bad_json":
            return PlainTextResponse("<html>gateway</html>")
        with self._lock:
            i = self.run_ids.index(runpod_id)
            self.run_times[i] = (*self.run_times[i][:2], time.monotonic())
        return JSONResponse({"id": runpod_id, "status": "IN_QUEUE"})

    async def _status(self, request: Request) -> Any:
        if not self._authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        runpod_id = request.path_params["runpod_id"]
        await self._maybe_held("status")
        with self._lock:
            self.status_calls.append(runpod_id)
            body = self._statuses.get(runpod_id)
            if body is not None and self.complete_all and body["status"] not in ("CANCELLED", "FAILED"):
                job_id = self.runs[self.run_ids.index(runpod_id)]["input"].get("job_id")
                body = {"id": runpod_id, "status": "COMPLETED", "output": {"output_key": f"final_videos/{job_id}.mp4"}}
                self.active.pop(runpod_id, None)
        if body is None:
            return JSONResponse({"error": "job not found"}, status_code=404)
        return JSONResponse(body)

    async def _cancel(self, request: Request) -> Any:
        if not self._authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        runpod_id = request.path_params["runpod_id"]
        await self._maybe_held("cancel")
        with self._lock:
            self.cancel_calls.append(runpod_id)
            known = runpod_id in self._statuses
            if known:
                self._statuses[runpod_id] = {"id": runpod_id, "status": "CANCELLED"}
                self.active.pop(runpod_id, None)
        if not known:
            return JSONResponse({"error": "job not found"}, status_code=404)
        return JSONResponse({"id": runpod_id, "status": "CANCELLED"})

    def asgi_app(self) -> Starlette:
        """The endpoint as an ASGI app, for in-process use (httpx.ASGITransport) without a server."""
        return Starlette(routes=[
            Route(f"{ENDPOINT_PATH}/run", self._run, methods=["POST"]),
            Route(f"{ENDPOINT_PATH}/status/{{runpod_id}}", self._status, methods=["GET"]),
            Route(f"{ENDPOINT_PATH}/cancel/{{runpod_id}}", self._cancel, methods=["POST"]),
        ])

    # -- lifecycle --------------------------------------------------------------------------------
    def up(self) -> FakeRunPod:
        config = uvicorn.Config(self.asgi_app(), host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake RunPod did not start")
            time.sleep(0.01)
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            self._thread.join(10)
            self._server = None

    def __enter__(self) -> FakeRunPod:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()
