"""A fake RunPod serverless endpoint that follows the cloud API shapes, for tests and benchmarks.

It runs uvicorn in a background thread on 127.0.0.1. Tests steer it: `mode` decides how `/run`
answers; `set_status` decides what `/status/{id}` says; `down()`/`up()` stop and restart it on
the same port to simulate an outage. Everything it receives is recorded.
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


class FakeRunPod:
    def __init__(self, api_key: str = "test-runpod-key") -> None:
        self.api_key = api_key
        self.mode = "ok"  # ok | fail | unavailable | reject | hang | bad_json
        self.runs: list[dict] = []  # /run bodies, in order
        self.run_ids: list[str] = []  # the RunPod id given to each accepted run
        self.status_calls: list[str] = []
        self.cancel_calls: list[str] = []
        self._statuses: dict[str, dict] = {}
        self._lock = threading.Lock()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ENDPOINT_PATH}"

    # -- controls -------------------------------------------------------------------------------
    def set_status(self, runpod_id: str, body: dict) -> None:
        with self._lock:
            self._statuses[runpod_id] = body

    def wait_for_runs(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.runs) >= n:
                    return list(self.runs)
            time.sleep(0.02)
        raise AssertionError(f"fake RunPod got {len(self.runs)} runs, expected {n}")

    # -- the endpoint -----------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    async def _run(self, request: Request) -> Any:
        if not self._authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        body = await request.json()
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
        if mode == "bad_json":
            return PlainTextResponse("<html>gateway</html>")
        return JSONResponse({"id": runpod_id, "status": "IN_QUEUE"})

    async def _status(self, request: Request) -> Any:
        if not self._authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        runpod_id = request.path_params["runpod_id"]
        with self._lock:
            self.status_calls.append(runpod_id)
            body = self._statuses.get(runpod_id)
        if body is None:
            return JSONResponse({"error": "job not found"}, status_code=404)
        return JSONResponse(body)

    async def _cancel(self, request: Request) -> Any:
        if not self._authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        runpod_id = request.path_params["runpod_id"]
        with self._lock:
            self.cancel_calls.append(runpod_id)
            known = runpod_id in self._statuses
            if known:
                self._statuses[runpod_id] = {"id": runpod_id, "status": "CANCELLED"}
        if not known:
            return JSONResponse({"error": "job not found"}, status_code=404)
        return JSONResponse({"id": runpod_id, "status": "CANCELLED"})

    def _app(self) -> Starlette:
        return Starlette(routes=[
            Route(f"{ENDPOINT_PATH}/run", self._run, methods=["POST"]),
            Route(f"{ENDPOINT_PATH}/status/{{runpod_id}}", self._status, methods=["GET"]),
            Route(f"{ENDPOINT_PATH}/cancel/{{runpod_id}}", self._cancel, methods=["POST"]),
        ])

    # -- lifecycle --------------------------------------------------------------------------------
    def up(self) -> FakeRunPod:
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning",
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
