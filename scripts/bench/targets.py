"""The two targets compare_peer.py measures, each launched fresh, and how each API is called.

Both run under `wrangler dev` on a local workerd, in a process group of their own that `stop()`
ends whole (SIGTERM, then SIGKILL), and both send their jobs to the same fake RunPod.

- `ProjectTarget`: this project (Python on workerd + Pyodide), launched as the tests launch it
  (`tests/worker_process.py`, `tests/conftest.py:worker_env`), with fresh state in a temp folder.
- `SeedTarget`: the seeds' TypeScript design (`../shared/peers/seed-ts`), run from a scratch copy
  with its own `run.sh` (which wipes its state for the port), `npm ci` done once in the copy.

Where the two APIs differ, the harness adapts (docs/benchmarks.md lists the same):
- auth: the project takes a user token (`Authorization: Bearer <JWT>`, `?token=` on WebSockets);
  the seed takes none (its start reads `X-User-Id`). The queue takes `X-API-Key` on both, with the
  same key;
- start: the project checks the input object exists, so it is uploaded once through the project's
  own upload URL; it answers 202 `pending` and its job's alarm submits to RunPod afterwards. The
  seed answers 200 `processing` after submitting to RunPod inside the request;
- callbacks: the project's signed URL (`/api/runpod/callback/{id}?sig=<HMAC>`, what it gives
  RunPod); the seed's unsigned `/api/jobs/{id}/do` (its callback URL's path; its host is a
  placeholder);
- presign: the project signs a Worker-served URL with HMAC (no R2 S3 keys locally); the seed
  returns a fixed placeholder URL (its presigning is a stub).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import entry_counter
import httpx

from auth import callback_sig
from dev_runtime import reaper
from dev_runtime.node_tools import WRANGLER_ENV, find_node
from dev_runtime.wrangler_dev import WranglerDev, end_group, free_port
from tests.conftest import ORIGIN, SECRETS, SERVER_KEY, user_token, worker_env
from tests.worker_process import bundle_dir
from tests.worker_process import worker as make_worker

REPO = Path(__file__).resolve().parents[2]
USER = "bench"
INPUT_KEY = "working_videos/in.mp4"
START_BODY = {"project_id": 1, "input_key": INPUT_KEY, "params": {"highlight_regions": [], "effect_type": "blur"}}
UNKNOWN_JOB_ID = "f" * 32  # a well-formed job id no job has


# What each route of the CPU profile runs, in the project (P) and in the seed (S).
PROFILE_ROUTES = {
    "entry": "P: WorkerEntrypoint.fetch only: a job WebSocket path without Upgrade, 426 before the ASGI app",
    "preflight": "P: + the ASGI bridge and the CORS layer, which answers the OPTIONS (204); S: its router's OPTIONS",
    "not_found": "P: + the guard layer and FastAPI's routing, 404; S: its router's 404",
    "health": "P: + a FastAPI route with one dependency (Settings); S: its /health",
    "status_401": "P: the status route up to auth: no credential, 401 (no JWT, no Durable Object)",
    "status_key": "P: status with an API key + X-User-Id: auth without a JWT, RPC to the job's object, SQL read",
    "status": "P: status with a user token: + HS256 JWT verify; S: status, no auth (fetch to the object, KV get)",
    "status_unknown": "a well-formed id of no job: its object (empty, created by the first call) answers 404",
    "presign": "P: token + HMAC-signed Worker URL; S: a fixed placeholder URL (its presigning is a stub)",
}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    expect: int
    headers: dict[str, str] = field(default_factory=dict)
    json: object = None


class _ServedByWrangler:
    """A target this harness serves itself with `wrangler dev` (the project, the Python floor): a
    scratch folder in `_tmp`, the server in `_worker`."""

    _tmp: tempfile.TemporaryDirectory | None = None
    _worker: WranglerDev | None = None

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def pgid(self) -> int:
        return self._worker.pid

    @property
    def base_url(self) -> str:
        return self._worker.base_url


class ProjectTarget(_ServedByWrangler):
    name, label = "project", "this project"

    def __init__(self, runpod_url: str) -> None:
        self.runpod_url = runpod_url
        self.counts_entries = False  # set by launch(count_entries=True): GET /__dev/entries answers
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._worker = None
        self.token = user_token(USER, ttl_s=24 * 3600)
        self.auth = {"Authorization": f"Bearer {self.token}"}

    # -- lifecycle ------------------------------------------------------------------------------
    def launch(self, count_entries: bool = False) -> None:
        """Serve the project; with `count_entries`, a scratch copy whose entries into Python are counted
        (entry_counter.py; the same code, one development-only module more)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="compare-project-")
        root = entry_counter.counting_root(Path(self._tmp.name) / "root") if count_entries else REPO
        self._worker = make_worker(Path(self._tmp.name) / "state", worker_env(self.runpod_url), root=root)
        self.counts_entries = count_entries
        self._worker.start(timeout=300)

    def objects_constructed(self) -> int:
        """How many times a job's object was constructed so far (the log says so once each)."""
        return self._worker.log_text().count("UserJobs: object constructed")

    async def prepare(self, http: httpx.AsyncClient) -> None:
        """Upload the input object the starts name, through the project's own upload URL."""
        r = await http.post("/api/storage/upload-url", headers=self.auth,
                            json={"key": INPUT_KEY, "content_type": "video/mp4"})
        r.raise_for_status()
        info = r.json()
        put = await http.put(info["url"], content=b"video", headers=info["headers"])
        put.raise_for_status()

    # -- the API --------------------------------------------------------------------------------
    def start(self) -> Call:
        return Call("POST", "/api/export/overlay/start", 202, self.auth, START_BODY)

    def status(self, job_id: str) -> Call:
        return Call("GET", f"/api/export/status/{job_id}", 200, self.auth)

    def presign(self) -> Call:
        return Call("GET", f"/api/storage/presigned-url?key={INPUT_KEY}", 200, self.auth)

    def callback(self, job_id: str, body: dict) -> Call:
        sig = callback_sig.sign(SECRETS["CALLBACK_SECRET"], job_id, USER)
        return Call("POST", f"/api/runpod/callback/{job_id}?u={USER}&sig={sig}", 200, {}, body)

    def websocket(self, job_id: str) -> str:
        return f"{self._worker.ws_url}/api/jobs/{job_id}/ws?token={self.token}"

    queue_headers = {"X-API-Key": SERVER_KEY}

    def profile_calls(self, job_id: str) -> dict[str, Call]:
        """Routes of increasing depth (PROFILE_ROUTES says what each one runs)."""
        return {
            "entry": Call("GET", f"/api/jobs/{job_id}/ws", 426),
            "preflight": Call("OPTIONS", f"/api/export/status/{job_id}", 204,
                              {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}),
            "not_found": Call("GET", "/api/nope", 404),
            "health": Call("GET", "/health", 200),
            "status_401": Call("GET", f"/api/export/status/{job_id}", 401),
            "status_key": Call("GET", f"/api/export/status/{job_id}", 200, {"X-API-Key": SERVER_KEY, "X-User-Id": USER}),
            "status": self.status(job_id),
            "status_unknown": Call("GET", f"/api/export/status/{UNKNOWN_JOB_ID}", 404, self.auth),
            "presign": self.presign(),
        }


class SeedTarget:
    name, label = "seed", "seed TS peer"

    def __init__(self, runpod_url: str, source: Path, scratch: Path) -> None:
        self.runpod_url, self.source, self.dir = runpod_url, source, scratch
        self.port: int | None = None
        self._pgid: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def install(self) -> None:
        """Copy the peer to the scratch folder (never run it in place) and `npm ci` there once."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for item in self.source.iterdir():
            if item.name in ("node_modules", ".wrangler"):
                continue
            dest = self.dir / item.name
            if dest.is_dir():
                shutil.rmtree(dest)
            elif dest.exists():
                dest.unlink()
            if item.is_dir():
                shutil.copytree(item, dest)
            else:
                shutil.copy2(item, dest)
        subprocess.run(["chmod", "-R", "u+w", str(self.dir)], check=True)
        if not (self.dir / "node_modules" / ".bin" / "wrangler").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=self.dir, check=True,
                           stdout=subprocess.DEVNULL)

    def launch(self) -> None:
        self.port = _two_free_ports()  # run.sh takes PORT and PORT + 1 (its inspector)
        # The project's own wrangler (and so its workerd): local tooling differs between wrangler versions by
        # more than the code does, so both sides run on the same one (docs/benchmarks.md, "Method").
        # It needs the Node 22 the project's wrangler runs on, first on PATH.
        node_dir = str(Path(find_node() or "node").parent)
        env = {**os.environ, **WRANGLER_ENV, "API_KEY": SERVER_KEY, "RUNPOD_API_KEY": SECRETS["RUNPOD_API_KEY"],
               "FRESH": "1", "START_TIMEOUT": "120", "WRANGLER": str(REPO / "node_modules" / ".bin" / "wrangler"),
               "PATH": f"{node_dir}:{os.environ.get('PATH', '')}"}
        try:
            subprocess.run(["bash", "run.sh", str(self.port), self.runpod_url], cwd=self.dir, env=env, check=True,
                           stdout=subprocess.DEVNULL, timeout=180)
        finally:
            pid_file = self.dir / ".wrangler" / f"dev-{self.port}.pid"
            if pid_file.exists():
                self._pgid = int(pid_file.read_text())  # run.sh starts wrangler with setsid: pid = pgid
                reaper.watch(self._pgid)  # ended even if the benchmark itself is killed

    def stop(self) -> None:
        if self._pgid is not None:
            end_group(self._pgid)
            reaper.forget(self._pgid)
            self._pgid = None
        if self.port is not None:
            for name in (f"state-{self.port}", f"dev-{self.port}.pid", f"dev-{self.port}.log"):
                path = self.dir / ".wrangler" / name
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    @property
    def pgid(self) -> int:
        return self._pgid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def objects_constructed(self) -> int | None:
        return None  # the seed's object logs nothing when constructed

    async def prepare(self, http: httpx.AsyncClient) -> None:
        """Nothing to upload: the seed's start does not look at its input."""

    # -- the API --------------------------------------------------------------------------------
    def start(self) -> Call:
        return Call("POST", "/api/export/overlay/start", 200, {"X-User-Id": USER}, START_BODY)

    def status(self, job_id: str) -> Call:
        return Call("GET", f"/api/export/status/{job_id}", 200)

    def presign(self) -> Call:
        return Call("GET", f"/api/storage/presigned-url?key={INPUT_KEY}", 200)

    def callback(self, job_id: str, body: dict) -> Call:
        return Call("POST", f"/api/jobs/{job_id}/do", 200, {}, body)

    def websocket(self, job_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/api/jobs/{job_id}/ws"

    queue_headers = {"X-API-Key": SERVER_KEY}

    def profile_calls(self, job_id: str) -> dict[str, Call]:
        return {
            "preflight": Call("OPTIONS", f"/api/export/status/{job_id}", 200,
                              {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}),
            "not_found": Call("GET", "/api/nope", 404),
            "health": Call("GET", "/health", 200),
            "status": self.status(job_id),
            "status_unknown": Call("GET", f"/api/export/status/{UNKNOWN_JOB_ID}", 404),
            "presign": self.presign(),
        }


class FloorTarget(_ServedByWrangler):
    """The floor of a Python Worker (floor/README.md): the project's shape with nothing but the I/O."""

    name, label = "floor", "Python floor"
    root = Path(__file__).resolve().parent / "floor"

    def __init__(self, runpod_url: str) -> None:
        self.runpod_url = runpod_url
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._worker: WranglerDev | None = None

    def launch(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="compare-floor-")
        root = Path(self._tmp.name) / "root"  # a scratch project: the floor's files, the project's tools
        shutil.copytree(self.root, root)
        for shared in ("node_modules", "python_modules"):
            (root / shared).symlink_to(REPO / shared)
        self._worker = WranglerDev(values={"RUNPOD_ENDPOINT": self.runpod_url,
                                           "RUNPOD_API_KEY": SECRETS["RUNPOD_API_KEY"]},
                                   state_dir=Path(self._tmp.name) / "state", bundle_dir=bundle_dir(), root=root)
        self._worker.start(timeout=300, ready_path="/ok")

    def objects_constructed(self) -> int | None:
        return None

    async def prepare(self, http: httpx.AsyncClient) -> None:
        """Nothing to upload: the floor does not look at its input."""

    def start(self) -> Call:
        return Call("POST", "/start", 200, {}, START_BODY)

    def status(self, job_id: str) -> Call:
        return Call("GET", f"/status/{job_id}", 200)

    def callback(self, job_id: str, body: dict) -> Call:
        return Call("POST", f"/callback/{job_id}", 200, {}, body)

    def websocket(self, job_id: str) -> str:
        return f"{self._worker.ws_url}/ws/{job_id}"

    queue_headers: dict[str, str] = {}  # the claims scenario's paths, without auth


def _two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")
