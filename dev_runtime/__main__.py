"""`python -m dev_runtime`: serve the Worker with `wrangler dev` on workerd + Pyodide (scripts/dev).

Builds what the run needs (the development Pyodide bundle, python_modules/), writes `.dev.vars`
with random local secrets the first time, starts the local RunPod-compatible endpoint unless
RUNPOD_ENDPOINT names another one (on ${LOCAL_RUNPOD_PORT:-8788}), allows webhook receivers on
127.0.0.1 when WEBHOOK_HOSTS is empty (development only), and serves on
http://127.0.0.1:${PORT:-8787} with state in ${LOCAL_STATE_DIR:-.wrangler/dev}. Ctrl-C, SIGTERM or
SIGHUP (a closed terminal) stops every process it started; should this process die without stopping
them (kill -9, a crash), the reaper (reaper.py) ends them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from dev_runtime import reaper
from dev_runtime.dev_vars import ensure_dev_vars, required_secret_names, secret_names, worker_values
from dev_runtime.prepare import prepare
from dev_runtime.process_groups import end_group
from dev_runtime.wrangler_dev import REPO, WranglerDev

# wrangler.toml's RUNPOD_ENDPOINT: "the local stand-in", on LOCAL_RUNPOD_PORT when that is set.
LOCAL_RUNPOD = "http://127.0.0.1:8788/v2/local"
# Where a start's webhook may go in development when WEBHOOK_HOSTS says nothing: this machine.
DEV_WEBHOOK_HOSTS = "127.0.0.1"


def _start_local_runpod(port: int, api_key: str, state_dir: Path) -> subprocess.Popen[bytes]:
    # Its jobs live beside the Worker's state, so a fresh LOCAL_STATE_DIR starts both afresh.
    env = {**os.environ, "GPU_PORT": str(port), "RUNPOD_API_KEY": api_key,
           "GPU_STATE_DIR": str(state_dir / "local-runpod")}
    # Its own session, as wrangler's, so Ctrl-C reaches us alone (each render's process has a session of its
    # own and ends when the endpoint closes its stdin).
    proc = subprocess.Popen([sys.executable, "-m", "gpu_worker.local_endpoint"], cwd=REPO, env=env,
                            start_new_session=True)
    reaper.watch(proc.pid)
    return proc


def main() -> int:
    bundle_dir = prepare()
    dev_vars, created = ensure_dev_vars(REPO)
    values = worker_values(REPO)
    # Never the key itself: the dev log shows no secret. The developer reads it from the file.
    print(f"{'created' if created else 'using'} {dev_vars.name}: the dev API key is the first of its API_KEYS")

    if values.get("ENVIRONMENT") in ("development", "test") and not values.get("WEBHOOK_HOSTS"):
        # A start may name a webhook receiver on this machine (scripts/demo runs one); http is allowed in
        # development. Never deployed: production's WEBHOOK_HOSTS comes from its own vars.
        values["WEBHOOK_HOSTS"] = DEV_WEBHOOK_HOSTS
        print(f"webhooks: receivers on {DEV_WEBHOOK_HOSTS} may be named (WEBHOOK_HOSTS is empty)")

    state_dir = Path(os.environ.get("LOCAL_STATE_DIR", REPO / ".wrangler" / "dev"))
    gpu = None
    if values.get("RUNPOD_ENDPOINT") == LOCAL_RUNPOD:
        port = int(os.environ.get("LOCAL_RUNPOD_PORT", "8788"))
        values["RUNPOD_ENDPOINT"] = f"http://127.0.0.1:{port}/v2/local"
        gpu = _start_local_runpod(port, values.get("RUNPOD_API_KEY", ""), state_dir)
        print(f"RunPod endpoint: local stand-in at {values['RUNPOD_ENDPOINT']} "
              "(set RUNPOD_ENDPOINT and RUNPOD_API_KEY for a real one)")
    else:
        print(f"RunPod endpoint: {values.get('RUNPOD_ENDPOINT')}")

    server = WranglerDev(values=values, state_dir=state_dir, bundle_dir=bundle_dir,
                         port=int(os.environ.get("PORT", "8787")), secret_names=tuple(secret_names(REPO)),
                         required=tuple(required_secret_names(REPO)), echo=sys.stdout)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    # SIGHUP too: a closed terminal must stop the stack as Ctrl-C does (its default would end us
    # at once, leaving the stopping to the reaper).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        print(f"starting workerd + Pyodide (state in {state_dir}) ...", flush=True)
        server.start()
        print(f"serving on {server.base_url}", flush=True)
        while not stopping.wait(1):
            if not server.running():
                print("wrangler dev stopped by itself; see the log above", file=sys.stderr)
                break
    finally:
        server.stop()
        if gpu is not None:
            end_group(gpu.pid, grace=10, reap=gpu.poll)  # the endpoint (its renders end with it)
            reaper.forget(gpu.pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
