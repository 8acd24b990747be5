"""`python -m gpu_worker.job_process`: one job run by the handler in a process of its own (local endpoint).

stdin: one JSON line, RunPod's job (`{"id", "input"}`). stdin then stays open: when it closes, because
the endpoint let go of the job (cancel) or died, this process kills its process group — itself and its
ffmpeg — so no render outlives the endpoint that was asked for it.
stdout: JSON lines, `{"report": body}` for each report the handler makes, then `{"result": ...}`.
Logs go to stderr and, like the handler's, carry no URL.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading

from gpu_worker.handler import handler


def _die_with_the_endpoint() -> None:
    sys.stdin.read()  # returns at EOF
    os.killpg(os.getpgrp(), signal.SIGKILL)  # the endpoint started us as a new session: the group is ours


def main() -> None:
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    job = json.loads(sys.stdin.readline())
    threading.Thread(target=_die_with_the_endpoint, daemon=True).start()
    lock = threading.Lock()

    def emit(message: dict) -> None:
        with lock:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    result = handler(job, on_progress=lambda body: emit({"report": body}))
    emit({"result": result})


if __name__ == "__main__":
    main()
