"""A local RunPod-compatible endpoint that renders with the real handler, so `scripts/dev` exports for real.

It follows the cloud API (Bearer auth on every route):
- `POST /v2/{endpoint}/run` `{"input", "webhook"?, "policy"?}` → `{"id", "status": "IN_QUEUE"}`; ids are
  random (`local-<uuid4>`), so none is ever reused, across restarts included. `policy` is RunPod's
  (gpu_worker/local_policy.py): `executionTimeout` ms (5 s – 7 d) bounds the run, else GPU_JOB_TIMEOUT_S
  (3600 s); `ttl` ms (10 s – 7 d) bounds the job's life from its submission: still queued then, it is
  dropped (its status answers 404, as RunPod forgets it; no webhook); running then, it is TIMED_OUT. A
  bad policy (not an object, not integers, out of bounds, an unknown key) → 400 `{"error"}`;
- `GET .../status/{id}` → `{"id", "status", "delayTime"?, "executionTime"?, "output"?, "error"?}`: IN_QUEUE,
  IN_PROGRESS (with the handler's latest progress as `output`), COMPLETED (`output` = the handler's
  result), FAILED (`error`), CANCELLED, TIMED_OUT (its process group killed); an unknown id → 404.
  As RunPod's: `delayTime` (int ms, submission → start) once it started, `executionTime` (int ms,
  start → end) once it ended;
- `POST .../cancel/{id}` → the status body, CANCELLED; a running job's process group (the handler
  and its ffmpeg) is killed;
- `GET .../health` → `{"jobs": {...counts}, "workers": {"idle", "running"}}`;
- the `webhook`, when given, receives the status body once the job ends (as RunPod sends it).

Like a one-GPU endpoint it runs one job at a time, in order, each in a process of its own
(`gpu_worker.job_process`). Jobs live in SQLite under the state dir, so a restart forgets none: jobs
still queued run after it (unless their ttl ran out), and a job that was running when the endpoint
stopped is FAILED on the next start, its webhook sent then. A queued job's input (with its signed URLs)
is kept only until the job starts; the log names jobs by id and type, never a URL.

    python -m gpu_worker.local_endpoint   # 127.0.0.1:$GPU_PORT (8788), key $RUNPOD_API_KEY, state $GPU_STATE_DIR
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gpu_worker.local_policy import Policy, PolicyError, expires_at, parse_policy, run_deadline
from gpu_worker.transfer import redact

log = logging.getLogger("gpu_worker.local_endpoint")
REPO = Path(__file__).resolve().parent.parent
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
STOPPED_WHILE_RUNNING = "the local endpoint stopped while this job was running; start the export again"
WEBHOOK_ATTEMPTS = 3
WEBHOOK_TIMEOUT_S = 10.0

_SCHEMA = """CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, status TEXT NOT NULL, type TEXT,
    input TEXT, webhook TEXT, output TEXT, error TEXT, created REAL NOT NULL, started REAL, finished REAL,
    webhook_due INTEGER NOT NULL DEFAULT 0, ttl_ms INTEGER, timeout_ms INTEGER)"""
_ADDED_COLUMNS = ("ttl_ms INTEGER", "timeout_ms INTEGER")  # a state dir from before policies gets them


class JobStore:
    """The endpoint's jobs in SQLite (a file only this process opens; every call is short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        os.chmod(path, 0o600)  # queued inputs and webhooks hold signed URLs
        self.db.row_factory = sqlite3.Row
        self.db.execute(_SCHEMA)
        have = {r["name"] for r in self.db.execute("PRAGMA table_info(jobs)")}
        for column in _ADDED_COLUMNS:
            if column.split()[0] not in have:
                self.db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")

    def close(self) -> None:
        self.db.close()

    def add(self, job_id: str, kind: str | None, job_input: dict, webhook: str | None, policy: Policy) -> None:
        self.db.execute("INSERT INTO jobs (id, status, type, input, webhook, created, ttl_ms, timeout_ms) "
                        "VALUES (?, 'IN_QUEUE', ?, ?, ?, ?, ?, ?)",
                        (job_id, kind, json.dumps(job_input), webhook, time.time(), policy.ttl_ms,
                         policy.execution_timeout_ms))

    def drop_expired(self, now: float) -> list[str]:
        """Forget the queued jobs whose ttl ran out (RunPod forgets them: 404); their ids."""
        rows = self.db.execute("SELECT id, created, ttl_ms FROM jobs WHERE status = 'IN_QUEUE' AND ttl_ms IS NOT NULL")
        ids = [r["id"] for r in rows if expires_at(r["created"], r["ttl_ms"]) <= now]
        for job_id in ids:
            self.db.execute("DELETE FROM jobs WHERE id = ? AND status = 'IN_QUEUE'", (job_id,))
        return ids

    def get(self, job_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()

    def next_queued(self) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM jobs WHERE status = 'IN_QUEUE' ORDER BY seq LIMIT 1").fetchone()

    def start(self, job_id: str) -> float:
        """The job runs from now (returned). The input's signed URLs are not kept once the job has them."""
        started = time.time()
        self.db.execute("UPDATE jobs SET status = 'IN_PROGRESS', started = ?, input = NULL WHERE id = ?",
                        (started, job_id))
        return started

    def progress(self, job_id: str, output: dict) -> None:
        self.db.execute("UPDATE jobs SET output = ? WHERE id = ? AND status = 'IN_PROGRESS'",
                        (json.dumps(output), job_id))

    def finish(self, job_id: str, status: str, *, output: dict | None = None, error: str | None = None) -> bool:
        """End a job that has not ended; False when it already had (e.g. cancelled meanwhile)."""
        cur = self.db.execute(
            "UPDATE jobs SET status = ?, output = ?, error = ?, finished = ?, input = NULL, "
            "webhook_due = (webhook IS NOT NULL) WHERE id = ? AND status IN ('IN_QUEUE', 'IN_PROGRESS')",
            (status, json.dumps(output) if output is not None else None, error, time.time(), job_id))
        return cur.rowcount == 1

    def fail_interrupted(self) -> list[str]:
        """At start: the jobs that were running when the endpoint stopped are FAILED now."""
        ids = [r["id"] for r in self.db.execute("SELECT id FROM jobs WHERE status = 'IN_PROGRESS'")]
        for job_id in ids:
            self.finish(job_id, "FAILED", error=STOPPED_WHILE_RUNNING)
        return ids

    def webhooks_due(self) -> list[str]:
        return [r["id"] for r in self.db.execute("SELECT id FROM jobs WHERE webhook_due = 1 ORDER BY seq")]

    def webhook_sent(self, job_id: str) -> None:
        self.db.execute("UPDATE jobs SET webhook_due = 0, webhook = NULL WHERE id = ?", (job_id,))

    def counts(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self.db.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")}


def status_body(row: sqlite3.Row) -> dict:
    """The job as RunPod's /status shows it (also the webhook's body)."""
    body: dict = {"id": row["id"], "status": row["status"]}
    if row["started"]:
        body["delayTime"] = int((row["started"] - row["created"]) * 1000)
        if row["finished"]:
            body["executionTime"] = int((row["finished"] - row["started"]) * 1000)
    if row["output"] is not None:
        body["output"] = json.loads(row["output"])
    if row["error"]:
        body["error"] = row["error"]
    return body


class LocalEndpoint:
    def __init__(self, api_key: str, state_dir: str | Path, *, worker_env: dict[str, str] | None = None,
                 job_timeout_s: float = 3600.0) -> None:
        self.api_key = api_key
        self.state_dir = Path(state_dir)
        # Each job's temporary files (the downloaded input, the render) go in a directory of its own,
        # removed however the job ends: a cancel kills the handler before it can clean up.
        tag = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
        self.work_root = Path(tempfile.gettempdir()) / f"rb-local-runpod-{tag}"
        self.worker_env = worker_env or {}
        self.job_timeout_s = job_timeout_s
        self.store: JobStore | None = None
        self.running: tuple[str, asyncio.subprocess.Process] | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()

    # --- lifecycle -------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette):
        self.store = JobStore(self.state_dir / "jobs.sqlite3")
        self._wake = asyncio.Event()
        shutil.rmtree(self.work_root, ignore_errors=True)  # what a crash left: no job runs yet
        for job_id in self.store.fail_interrupted():
            log.warning("job %s was running when the endpoint stopped: FAILED", job_id)
        self._spawn(self._send_due_webhooks())
        worker = asyncio.ensure_future(self._work_loop())
        try:
            yield
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            # The job that was running (its process group killed with the worker) fails now, on a clean
            # stop; after a crash the next start does it.
            for job_id in self.store.fail_interrupted():
                log.warning("job %s stopped with the endpoint: FAILED", job_id)
                await self._send_webhook(job_id, attempts=1)
            for task in list(self._tasks):
                task.cancel()
            self.store.close()
            shutil.rmtree(self.work_root, ignore_errors=True)  # no job runs any more

    def _drop_expired(self) -> None:
        """Queued jobs past their ttl are forgotten before anything looks at the queue (so exactly on time)."""
        for job_id in self.store.drop_expired(time.time()):
            log.warning("job %s dropped: its ttl ran out while it was queued", job_id)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- routes ----------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        return bool(self.api_key) and request.headers.get("authorization") == f"Bearer {self.api_key}"

    @staticmethod
    def _refused() -> JSONResponse:
        return JSONResponse({"error": "Unauthorized"}, status_code=401)

    async def run(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._refused()
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return JSONResponse({"error": 'the body must be {"input": {...}}'}, status_code=400)
        webhook = body.get("webhook")
        if webhook is not None and not isinstance(webhook, str):
            return JSONResponse({"error": "webhook must be a URL"}, status_code=400)
        try:
            policy = parse_policy(body.get("policy"))
        except PolicyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        job_id = f"local-{uuid.uuid4()}"
        kind = body["input"].get("type")
        self.store.add(job_id, kind if isinstance(kind, str) else None, body["input"], webhook, policy)
        log.info("job %s queued (%s)", job_id, kind if isinstance(kind, str) else "no type")
        self._wake.set()
        return JSONResponse({"id": job_id, "status": "IN_QUEUE"})

    async def status(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._refused()
        self._drop_expired()
        row = self.store.get(request.path_params["job_id"])
        if row is None:
            return JSONResponse({"error": "job not found"}, status_code=404)
        return JSONResponse(status_body(row))

    async def cancel(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._refused()
        job_id = request.path_params["job_id"]
        self._drop_expired()
        if self.store.get(job_id) is None:
            return JSONResponse({"error": "job not found"}, status_code=404)
        if self.store.finish(job_id, "CANCELLED"):
            log.info("job %s cancelled", job_id)
            if self.running and self.running[0] == job_id:
                self._kill(self.running[1])  # its run then ends and sends the webhook
            else:
                self._spawn(self._send_webhook(job_id))
        return JSONResponse(status_body(self.store.get(job_id)))

    async def health(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._refused()
        self._drop_expired()
        counts = self.store.counts()
        busy = 1 if self.running else 0
        return JSONResponse({
            "jobs": {"completed": counts.get("COMPLETED", 0), "failed": counts.get("FAILED", 0) + counts.get("TIMED_OUT", 0),
                     "inProgress": counts.get("IN_PROGRESS", 0), "inQueue": counts.get("IN_QUEUE", 0), "retried": 0},
            "workers": {"idle": 1 - busy, "running": busy}})

    def app(self, endpoint_id: str = "local") -> Starlette:
        base = f"/v2/{endpoint_id}"
        return Starlette(lifespan=self.lifespan, routes=[
            Route(f"{base}/run", self.run, methods=["POST"]),
            Route(f"{base}/status/{{job_id}}", self.status, methods=["GET"]),
            Route(f"{base}/cancel/{{job_id}}", self.cancel, methods=["POST"]),
            Route(f"{base}/health", self.health, methods=["GET"]),
        ])

    # --- the worker ------------------------------------------------------------------------------
    async def _work_loop(self) -> None:
        while True:
            self._drop_expired()
            row = self.store.next_queued()
            if row is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._run_one(row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one job's trouble never stops the queue
                log.error("job %s: %s", row["id"], redact(f"{type(exc).__name__}: {exc}"))
                if self.store.finish(row["id"], "FAILED", error="the local endpoint could not run the job"):
                    await self._send_webhook(row["id"])

    async def _run_one(self, row: sqlite3.Row) -> None:
        job_id, job_input = row["id"], json.loads(row["input"])
        started = self.store.start(job_id)
        deadline, overtime = run_deadline(row["created"], started, row["ttl_ms"], row["timeout_ms"], self.job_timeout_s)
        log.info("job %s in progress (%s)", job_id, row["type"])
        workdir = self.work_root / job_id
        workdir.mkdir(parents=True, mode=0o700)
        env = {**os.environ, **self.worker_env, "TMPDIR": str(workdir)}
        # A session of its own: cancel kills the group, i.e. the handler and its ffmpeg.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gpu_worker.job_process", cwd=str(REPO), env=env, start_new_session=True,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 20)
        self.running = (job_id, proc)
        result = None
        try:
            proc.stdin.write((json.dumps({"id": job_id, "input": job_input}) + "\n").encode())
            await proc.stdin.drain()
            del job_input
            async with asyncio.timeout(deadline - time.time()):
                async for line in proc.stdout:
                    message = json.loads(line)
                    report = message.get("report")
                    if isinstance(report, dict) and report.get("status") == "progress":
                        self.store.progress(job_id, {k: v for k, v in report.items() if k != "status"})
                    if "result" in message:
                        result = message["result"]
                await proc.wait()
        except TimeoutError:  # the process is killed below, as every run's is once it ends
            if self.store.finish(job_id, "TIMED_OUT", error=overtime):
                log.warning("job %s timed out: %s", job_id, overtime)
        finally:
            self._kill(proc)
            await proc.wait()
            self.running = None
            shutil.rmtree(workdir, ignore_errors=True)
        if isinstance(result, dict) and "error" not in result:
            ended = self.store.finish(job_id, "COMPLETED", output=result)
        elif isinstance(result, dict):
            ended = self.store.finish(job_id, "FAILED", error=str(result["error"]))
        else:
            ended = self.store.finish(job_id, "FAILED", error=f"the job's process ended without a result "
                                                             f"(exit {proc.returncode})")
        if ended:
            log.info("job %s %s", job_id, self.store.get(job_id)["status"])
        await self._send_webhook(job_id)

    @staticmethod
    def _kill(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if proc.stdin and not proc.stdin.is_closing():
            proc.stdin.close()

    # --- webhooks --------------------------------------------------------------------------------
    async def _send_due_webhooks(self) -> None:
        for job_id in self.store.webhooks_due():
            await self._send_webhook(job_id)

    async def _send_webhook(self, job_id: str, attempts: int = WEBHOOK_ATTEMPTS) -> None:
        row = self.store.get(job_id)
        if row is None or not row["webhook_due"] or not row["webhook"]:
            return
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as http:
            for attempt in range(attempts):
                try:
                    resp = await http.post(row["webhook"], json=status_body(row))
                    if resp.status_code < 500:
                        self.store.webhook_sent(job_id)
                        return
                    reason = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    reason = type(exc).__name__
                log.warning("job %s: webhook failed (%s), attempt %d of %d", job_id, reason, attempt + 1, attempts)
                if attempt + 1 < attempts:
                    await asyncio.sleep(2 ** attempt)  # backoff before trying a failing receiver again
        # Still due: tried again at the next start. The Worker's watchdog polls /status meanwhile.


def _api_key() -> str:
    """The key the Worker sends: scripts/dev passes the Worker's RUNPOD_API_KEY in the environment."""
    key = os.environ.get("RUNPOD_API_KEY", "")
    if not key:
        log.warning("RUNPOD_API_KEY is not set: every request will be refused")
    return key


def main() -> None:
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    state_dir = Path(os.environ.get("GPU_STATE_DIR") or REPO / ".wrangler" / "local-runpod")
    endpoint = LocalEndpoint(_api_key(), state_dir, job_timeout_s=float(os.environ.get("GPU_JOB_TIMEOUT_S", "3600")))
    port = int(os.environ.get("GPU_PORT", "8788"))
    log.info("local RunPod endpoint on http://127.0.0.1:%d/v2/local (jobs in %s)", port, state_dir)
    uvicorn.run(endpoint.app(), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
