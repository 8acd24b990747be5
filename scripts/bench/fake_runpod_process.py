"""The fake RunPod of the tests (`tests/fakes/runpod_server.py`) in a process of its own.

compare_peer.py runs it apart so that its answers (one per start of either target) never wait on
the benchmark client's own Python for the GIL. It adds two routes for the harness,
`GET /__bench/runs` → `{"runs": n, "jobs": distinct job ids}` and `GET /__bench/jobs?since=i` →
`{"jobs": [[job id, user id], ...], "next": n}` (the runs from the `i`th on), and prints its endpoint URL
as its first line of output. It stops on SIGTERM or when its stdin closes (its parent is gone).

`FakeRunPodProcess` is the parent's handle.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


class FakeRunPodProcess:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> FakeRunPodProcess:
        self._proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, cwd=REPO, start_new_session=True)
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the fake RunPod did not start: {line!r}")
        self.url = line
        return self

    def counts(self) -> dict:
        """{"runs": accepted /run calls, "jobs": distinct job ids among them}."""
        base = self.url.split("/v2/", 1)[0]
        return httpx.get(f"{base}/__bench/runs", timeout=10).json()

    def jobs_since(self, since: int) -> tuple[list[list[str]], int]:
        """The (job id, user id) of every /run from the `since`th on, and where the next call starts."""
        base = self.url.split("/v2/", 1)[0]
        found = httpx.get(f"{base}/__bench/jobs", params={"since": since}, timeout=10).json()
        return found["jobs"], found["next"]

    def stop(self) -> None:
        if self._proc is None:
            return
        # Imported here: this file also runs as a script, before the repo is on sys.path.
        from dev_runtime.wrangler_dev import end_group

        end_group(self._proc.pid, reap=self._proc.poll)
        self._proc.wait(10)
        self._proc = None

    def __enter__(self) -> FakeRunPodProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve() -> None:
    sys.path.insert(0, str(REPO))
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.fakes.runpod_server import FakeRunPod

    class BenchFakeRunPod(FakeRunPod):
        async def _counts(self, request) -> JSONResponse:
            with self._lock:
                return JSONResponse({"runs": len(self.runs),
                                     "jobs": len({run["input"].get("job_id") for run in self.runs})})

        async def _jobs(self, request) -> JSONResponse:
            since = int(request.query_params.get("since", "0"))
            with self._lock:
                runs = self.runs[since:]
                return JSONResponse({"jobs": [[r["input"].get("job_id"), r["input"].get("user_id")] for r in runs],
                                     "next": since + len(runs)})

        def asgi_app(self):
            app = super().asgi_app()
            app.router.routes.append(Route("/__bench/runs", self._counts, methods=["GET"]))
            app.router.routes.append(Route("/__bench/jobs", self._jobs, methods=["GET"]))
            return app

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    with BenchFakeRunPod() as fake:
        print(fake.url, flush=True)
        done.wait()


if __name__ == "__main__":
    _serve()
