"""The README's three commands as a new user runs them: `scripts/dev` serves the stack (the Worker on
workerd + Pyodide and the local RunPod-compatible endpoint with the reference GPU worker), then
`scripts/demo` renders framing, overlay and annotate end to end and checks each result, shows each job's
GPU usage and the deliveries its webhook receiver verified, and cancels, retries and completes one job."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading

import pytest

from dev_runtime.wrangler_dev import free_port, group_alive
from tests.conftest import REPO
from tests.waiting import wait_for


@pytest.mark.timeout(600)
def test_scripts_dev_then_scripts_demo(tmp_path):
    port, gpu_port = free_port(), free_port()
    env = {**os.environ, "PORT": str(port), "LOCAL_RUNPOD_PORT": str(gpu_port),
           "LOCAL_STATE_DIR": str(tmp_path / "state"), "GPU_PRICE_PER_S": "0.00044"}
    dev = subprocess.Popen([str(REPO / "scripts" / "dev")], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(dev.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("serving on" in line for line in output) or dev.poll() is not None, 180,
                 "scripts/dev serving")
        assert dev.poll() is None, "".join(output)
        demo = subprocess.run([str(REPO / "scripts" / "demo"), "--out", str(tmp_path / "out")], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=400)
        assert demo.returncode == 0, demo.stdout + demo.stderr + "".join(output[-40:])
        out = demo.stdout
        assert "all three exports rendered and checked" in out, out
        for name in ("framing", "overlay", "annotate", "overlay-retried"):
            assert (tmp_path / "out" / f"{name}.mp4").stat().st_size > 10_000
        # Each job's usage: RunPod's times as the local endpoint reported them, priced.
        usage = re.findall(r"^  usage: queue_ms=(\d+) execution_ms=(\d+) cost_usd=(\d+\.\d+)$", out, re.M)
        assert len(usage) == 4 and all(int(e) > 0 and float(c) > 0 for _, e, c in usage), out
        # The receiver's log: every delivery verified by the client's verify_webhook, each job completed.
        assert "REFUSED" not in out and re.search(r"^webhook receiver on http://127\.0\.0\.1:\d+/", out, re.M), out
        assert len(re.findall(r"^  webhook completed +status complete +verified$", out, re.M)) == 4, out
        assert re.search(r"^  webhook completed +status cancelled +verified$", out, re.M), out
        assert re.search(r"^  webhook retrying +status queued +verified$", out, re.M), out
        # The retried job: two attempts, the first cancelled, the second complete.
        assert "  attempts: 2\n" in out, out
        assert re.search(r"^    1: cancelled .*\n    2: complete ", out, re.M), out
        assert "sig=" not in "".join(output), "a callback signature reached the dev log"
    finally:
        os.killpg(dev.pid, signal.SIGTERM)  # what Ctrl-C does: scripts/dev stops everything it started
        try:
            dev.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(10)
    assert not group_alive(dev.pid), "scripts/dev left a process behind"
