"""`scripts/demo`: the whole pipeline on one machine, as a new user would try it.

Against the stack `scripts/dev` serves (the Worker on workerd + Pyodide and the local RunPod-compatible
endpoint running the reference GPU worker): make a short test clip with ffmpeg, upload it through an
upload URL, start a framing export, show its live progress from the WebSocket as a bar in the
terminal, download the result and check it is 1080×1920 with the clip's duration; then the same for
overlay and annotate. After each it shows the job's GPU `usage` from its status body (RunPod's
delayTime/executionTime as `queue_ms`/`execution_ms`, and `cost_usd` when GPU_PRICE_PER_S is set) and
the log of a webhook receiver this process runs on 127.0.0.1 (each delivery's event, the job's status,
and whether the client's `verify_webhook` accepted it). Last, one overlay export is cancelled once a
GPU has it, retried (`POST /api/export/jobs/{id}/retry`) and completes: its status lists 2 attempts.
Exits non-zero if any export fails or any check does not hold.

It uses the server API key and WEBHOOK_SECRET of `.dev.vars` and acts for the user `demo` through
`reel_ballers_client`, the package a backend would use. Webhooks need WEBHOOK_HOSTS to allow
127.0.0.1, which scripts/dev does in development when it is empty.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reel_ballers_client import (  # noqa: E402
    TERMINAL_STATUSES,
    ApiError,
    Conflict,
    InvalidWebhook,
    WorkersClient,
    verify_webhook,
)

from dev_runtime.dev_vars import worker_values  # noqa: E402
from gpu_worker.ffmpeg_run import ffmpeg_exe, probe  # noqa: E402

USER = "demo"
CLIP_S, CLIP_SIZE, CLIP_FPS = 4.0, (1280, 720), 30
INPUT_KEY = "working_videos/demo-clip.mp4"
BAR = 30
WAIT_S = 30  # for what follows a job's end: RunPod's usage report, the webhook's delivery
WEBHOOK_EVENTS = ["started", "retrying", "completed"]


def make_clip(path: Path) -> None:
    """A test pattern with a moving frame counter and a tone: something visibly changes in every export."""
    width, height = CLIP_SIZE
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={CLIP_FPS}:duration={CLIP_S}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={CLIP_S}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(path)], check=True, timeout=120)


def exports() -> list[tuple[str, dict, tuple[int, int], float]]:
    """(type, params, expected size, expected duration) of each export the demo runs."""
    frames = int(CLIP_S * CLIP_FPS)
    return [
        ("framing", {"crop_keyframes": [
            {"frame": 0, "x": 0.0, "y": 0.0, "width": 0.3, "height": 0.9},
            {"frame": frames - 1, "x": 0.7, "y": 0.1, "width": 0.3, "height": 0.9}]},
         (1080, 1920), CLIP_S),
        ("overlay", {"effect_type": "dim", "highlight_regions": [
            {"start_frame": 0, "end_frame": frames - 1, "x": 0.5, "y": 0.5, "radius_x": 0.2, "radius_y": 0.3}]},
         CLIP_SIZE, CLIP_S),
        ("annotate", {"clips": [{"start_time": 0.5, "end_time": 1.5, "name": "First touch"},
                                {"start_time": 2.0, "end_time": 3.5, "name": "The goal"}]},
         CLIP_SIZE, 2.5),
    ]


def show(export_type: str, progress: int, note: str) -> None:
    filled = BAR * progress // 100
    line = f"\r  {export_type:<9} [{'#' * filled}{'.' * (BAR - filled)}] {progress:3d}% {note[:40]:<40}"
    sys.stdout.write(line)
    sys.stdout.flush()


async def upload(http: httpx.AsyncClient, clip: Path) -> None:
    r = await http.post("/api/storage/upload-url", json={"key": INPUT_KEY, "content_type": "video/mp4"})
    r.raise_for_status()
    info = r.json()
    async with httpx.AsyncClient(timeout=120) as raw:
        put = await raw.put(info["url"], content=await asyncio.to_thread(clip.read_bytes), headers=info["headers"])
        put.raise_for_status()


class WebhookReceiver:
    """A backend's webhook endpoint, in this process: Starlette on 127.0.0.1 (a free port), checking each
    delivery with the client's `verify_webhook` and keeping a log of them. Refused ones answer 400."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.log: list[dict] = []
        # Listening from here on: a delivery that comes before the server runs waits in the backlog.
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/hooks/exports"
        app = Starlette(routes=[Route("/hooks/exports", self._receive, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> WebhookReceiver:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task
        self._socket.close()

    async def _receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event, verdict = verify_webhook(request.headers, body, self.secret), "verified"
        except InvalidWebhook as exc:
            event, verdict = {}, f"REFUSED ({exc})"
        self.log.append({"job_id": event.get("job_id"), "event": event.get("event"), "status": event.get("status"),
                         "verdict": verdict})
        return JSONResponse({"ok": True}) if verdict == "verified" else JSONResponse({"error": verdict}, 400)

    def _completed(self, job_id: str, status: str) -> bool:
        return any(e["job_id"] == job_id and e["event"] == "completed" and e["status"] == status for e in self.log)

    async def show(self, job_id: str, final_status: str) -> list[str]:
        """Print the job's deliveries once its `completed` one (with `final_status`) arrived; the problems."""
        deadline = time.monotonic() + WAIT_S
        refused = [e["verdict"] for e in self.log if e["verdict"] != "verified"]
        while not self._completed(job_id, final_status) and not refused and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            refused = [e["verdict"] for e in self.log if e["verdict"] != "verified"]
        for e in self.log:
            if e["job_id"] == job_id:
                print(f"  webhook {e['event']:<9} status {e['status']:<10} {e['verdict']}")
        if refused:
            return [f"a webhook delivery was refused by verify_webhook: {refused[0]}"]
        if not self._completed(job_id, final_status):
            return [f"job {job_id}: no `completed` webhook with status {final_status} within {WAIT_S} s"]
        return []


async def follow(client: WorkersClient, job_id: str, label: str, *, until_running: bool = False) -> dict | None:
    """Show the job's live progress as a bar; its last event: its end, or with `until_running` the first
    sign that a GPU has it."""
    t0, progress, last = time.monotonic(), 0, None
    events = client.watch(job_id)
    try:
        async for event in events:
            last = event
            progress = max(progress, int(event.get("progress") or 0))
            show(label, 100 if event["type"] == "complete" else progress, event.get("message") or event["type"])
            if until_running and (event["type"] == "progress" or event.get("status") == "processing"):
                break
    finally:
        await events.aclose()
    print(f"  {time.monotonic() - t0:.1f} s")
    return last


async def check_video(client: WorkersClient, last: dict | None, label: str, size: tuple[int, int], duration: float,
                      path: Path) -> list[str]:
    """Download a finished export and check its size and duration; the problems found."""
    if last is None or last["type"] != "complete":
        return [f"{label}: ended {last and last['type']}: {last and last.get('error')}"]
    size_bytes = await client.download(last["output_key"], path)
    got = await asyncio.to_thread(probe, str(path))
    problems = []
    if (got.width, got.height) != size:
        problems.append(f"{label}: {got.width}x{got.height}, expected {size[0]}x{size[1]}")
    if abs(got.duration - duration) > 0.25:
        problems.append(f"{label}: {got.duration:.2f} s, expected {duration:.2f} s")
    verdict = "; ".join(problems) or "ok"
    print(f"  -> {path} ({size_bytes // 1024} KiB, {got.width}x{got.height}, {got.duration:.2f} s): {verdict}")
    return problems


def usage_text(usage: dict | None) -> str:
    usage = usage or {}
    cost = usage.get("cost_usd")
    return (f"queue_ms={usage.get('queue_ms')} execution_ms={usage.get('execution_ms')} "
            f"cost_usd={'null (GPU_PRICE_PER_S is not set)' if cost is None else f'{cost:.6f}'}")


async def show_usage(client: WorkersClient, job_id: str) -> tuple[dict, list[str]]:
    """The job's status once RunPod's times reached it (its webhook follows the GPU worker's `complete`),
    its usage printed; the problems."""
    deadline = time.monotonic() + WAIT_S
    while (job := await client.get_job_status(job_id))["usage"]["execution_ms"] is None:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    print(f"  usage: {usage_text(job['usage'])}")
    return job, [] if job["usage"]["execution_ms"] is not None else [f"job {job_id}: no usage within {WAIT_S} s"]


def webhook_args(receiver: WebhookReceiver | None) -> dict:
    return {"webhook": receiver.url, "webhook_events": WEBHOOK_EVENTS} if receiver else {}


async def run_export(client: WorkersClient, receiver: WebhookReceiver | None, export_type: str, params: dict,
                     size: tuple[int, int], duration: float, out_dir: Path) -> list[str]:
    """Start, watch, download and check one export, then show its usage and webhooks; the problems found."""
    started = await client.start_export(export_type, project_id=1, input_key=INPUT_KEY, params=params,
                                        **webhook_args(receiver))
    last = await follow(client, started["job_id"], export_type)
    problems = await check_video(client, last, export_type, size, duration, out_dir / f"{export_type}.mp4")
    if not problems:
        problems += (await show_usage(client, started["job_id"]))[1]
    if receiver and not problems:
        problems += await receiver.show(started["job_id"], "complete")
    return problems


async def cancel_retry_complete(client: WorkersClient, receiver: WebhookReceiver | None, out_dir: Path) -> list[str]:
    """An overlay cancelled once a GPU runs it, retried under its id, then complete: 2 attempts."""
    export_type, params, size, duration = exports()[1]
    started = await client.start_export(export_type, project_id=2, input_key=INPUT_KEY, params=params,
                                        **webhook_args(receiver))
    job_id = started["job_id"]
    print(f"cancel -> retry -> complete ({export_type}, job {job_id}):")
    running = await follow(client, job_id, "attempt 1", until_running=True)
    if running is None or running["type"] in TERMINAL_STATUSES:
        return [f"attempt 1: ended {running and running['type']} before it could be cancelled"]
    try:
        cancelled = await client.cancel(job_id)
    except Conflict as exc:  # it finished first
        return [f"attempt 1: could not be cancelled ({exc})"]
    print(f"  cancelled: status {cancelled['status']}")
    retried = await client.retry(job_id, idempotency_key=f"demo-retry-{job_id}")
    print(f"  retried: status {retried['status']}, attempt {retried['job']['attempt']}")
    last = await follow(client, job_id, "attempt 2")
    problems = await check_video(client, last, "attempt 2", size, duration, out_dir / f"{export_type}-retried.mp4")
    if problems:
        return problems
    job, problems = await show_usage(client, job_id)
    print(f"  attempts: {len(job['attempts'])}")
    for attempt in job["attempts"]:
        print(f"    {attempt['attempt']}: {attempt['outcome'] or 'running':<10} RunPod job {attempt['runpod_id']}, "
              f"{usage_text(attempt['usage'])}")
    outcomes = [a["outcome"] for a in job["attempts"]]
    if outcomes != ["cancelled", "complete"]:
        problems.append(f"job {job_id}: attempts ended {outcomes}, expected cancelled then complete")
    if receiver:
        problems += await receiver.show(job_id, "complete")
    return problems


async def demo(base_url: str, api_key: str, webhook_secret: str, out_dir: Path) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=60,
                                 headers={"X-API-Key": api_key, "X-User-Id": USER}) as http:
        try:
            (await http.get("/health")).raise_for_status()
        except httpx.HTTPError:
            print(f"nothing answers at {base_url}: start `scripts/dev` first (PORT={os.environ.get('PORT', '8787')})",
                  file=sys.stderr)
            return 2
        clip = out_dir / "clip.mp4"
        await asyncio.to_thread(make_clip, clip)
        print(f"test clip: {clip} ({CLIP_SIZE[0]}x{CLIP_SIZE[1]}, {CLIP_S:.0f} s, {CLIP_FPS} fps)")
        await upload(http, clip)
        print(f"uploaded as {INPUT_KEY} for user {USER}")
    problems: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        receiver = None
        if webhook_secret:
            receiver = await stack.enter_async_context(WebhookReceiver(webhook_secret))
            print(f"webhook receiver on {receiver.url} (events: {', '.join(WEBHOOK_EVENTS)})")
        else:
            print("no WEBHOOK_SECRET in .dev.vars: the exports run without webhooks")
        client = await stack.enter_async_context(WorkersClient(base_url, api_key, USER))
        for export_type, params, size, duration in exports():
            try:
                problems += await run_export(client, receiver, export_type, params, size, duration, out_dir)
            except ApiError as exc:
                problems.append(f"{export_type}: {exc}")
                print(f"\n  {exc}")
        try:
            problems += await cancel_retry_complete(client, receiver, out_dir)
        except ApiError as exc:
            problems.append(f"cancel/retry: {exc}")
            print(f"\n  {exc}")
    print("all three exports rendered and checked, and a cancelled one retried to completion (2 attempts)"
          if not problems else "FAILED:\n  " + "\n  ".join(problems))
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8787')}")
    parser.add_argument("--out", type=Path, help="keep the clip and the exports here (default: a temporary folder)")
    args = parser.parse_args()
    values = worker_values(REPO)  # .dev.vars, under the environment's overrides as scripts/dev reads them
    api_key = os.environ.get("DEMO_API_KEY") or values.get("API_KEYS", "").split(",")[0].strip()
    if not api_key:
        print("no API key: run scripts/dev once (it writes .dev.vars) or set DEMO_API_KEY", file=sys.stderr)
        return 2
    webhook_secret = values.get("WEBHOOK_SECRET", "")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        return asyncio.run(demo(args.base_url, api_key, webhook_secret, args.out))
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(demo(args.base_url, api_key, webhook_secret, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
