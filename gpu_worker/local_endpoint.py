"""A local stand-in for a RunPod serverless endpoint, so `scripts/dev` can run exports end to end.

It speaks the cloud API shapes (`POST /v2/{endpoint}/run`, `GET .../status/{id}`,
`POST .../cancel/{id}`, Bearer auth) and does what a GPU worker does with the job's `input`:
downloads `input_url`, reports progress to `callback_url`, uploads the result to `output_url` (with
`output_headers`), reports completion, then sends RunPod's own webhook. The "export" itself is a
copy of the input: rendering with ffmpeg is the real GPU handler's job, not this endpoint's.

    python -m gpu_worker.local_endpoint            # 127.0.0.1:8788, API key from RUNPOD_API_KEY
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

log = logging.getLogger("gpu_worker.local_endpoint")
STEPS = (10, 35, 60, 85)


class LocalEndpoint:
    def __init__(self, api_key: str, step_delay_s: float = 0.5) -> None:
        self.api_key, self.step_delay_s = api_key, step_delay_s
        self.jobs: dict[str, dict] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._ids = itertools.count(1)

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    async def run(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        try:
            body = await request.json()
            job_input = body["input"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "body must be {\"input\": {...}}"}, status_code=400)
        runpod_id = f"local-{next(self._ids)}"
        self.jobs[runpod_id] = {"id": runpod_id, "status": "IN_QUEUE"}
        self._tasks[runpod_id] = asyncio.ensure_future(self._work(runpod_id, job_input, body.get("webhook")))
        return JSONResponse({"id": runpod_id, "status": "IN_QUEUE"})

    async def status(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        job = self.jobs.get(request.path_params["runpod_id"])
        return JSONResponse(job) if job else JSONResponse({"error": "job not found"}, status_code=404)

    async def cancel(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        runpod_id = request.path_params["runpod_id"]
        if runpod_id not in self.jobs:
            return JSONResponse({"error": "job not found"}, status_code=404)
        task = self._tasks.get(runpod_id)
        if task and not task.done():
            task.cancel()
        self.jobs[runpod_id] = {"id": runpod_id, "status": "CANCELLED"}
        return JSONResponse(self.jobs[runpod_id])

    async def _work(self, runpod_id: str, job: dict, webhook: str | None) -> None:
        callback = job.get("callback_url")
        async with httpx.AsyncClient(timeout=60) as http:
            try:
                self.jobs[runpod_id] = {"id": runpod_id, "status": "IN_PROGRESS"}
                source = await http.get(job["input_url"])
                source.raise_for_status()
                for progress in STEPS:
                    await asyncio.sleep(self.step_delay_s)
                    await http.post(callback, json={"status": "progress", "progress": progress,
                                                     "message": f"rendering {job.get('type')}"})
                put = await http.put(job["output_url"], content=source.content,
                                     headers=job.get("output_headers") or {"Content-Type": "video/mp4"})
                put.raise_for_status()
                output = {"status": "complete", "output_key": job["output_key"]}
                await http.post(callback, json=output)
                self.jobs[runpod_id] = {"id": runpod_id, "status": "COMPLETED", "output": output}
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the job fails, the endpoint keeps serving
                log.warning("job %s failed: %s", runpod_id, exc)
                self.jobs[runpod_id] = {"id": runpod_id, "status": "FAILED", "error": str(exc)[:500]}
            if webhook:
                try:
                    await http.post(webhook, json=self.jobs[runpod_id])
                except httpx.HTTPError as exc:
                    log.warning("webhook for %s failed: %s", runpod_id, exc)

    def app(self, endpoint_id: str = "local") -> Starlette:
        base = f"/v2/{endpoint_id}"
        return Starlette(routes=[
            Route(f"{base}/run", self.run, methods=["POST"]),
            Route(f"{base}/status/{{runpod_id}}", self.status, methods=["GET"]),
            Route(f"{base}/cancel/{{runpod_id}}", self.cancel, methods=["POST"]),
        ])


def _api_key() -> str:
    """The key the Worker sends: scripts/dev passes the Worker's RUNPOD_API_KEY in the environment."""
    key = os.environ.get("RUNPOD_API_KEY", "")
    if not key:
        log.warning("RUNPOD_API_KEY is not set: every request will be refused")
    return key


def main() -> None:
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    endpoint = LocalEndpoint(_api_key(), float(os.environ.get("GPU_STEP_DELAY_S", "0.5")))
    port = int(os.environ.get("GPU_PORT", "8788"))
    log.info("local RunPod endpoint on http://127.0.0.1:%d/v2/local", port)
    uvicorn.run(endpoint.app(), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
