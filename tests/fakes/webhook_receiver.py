"""A local webhook receiver: records every delivery and answers as a test tells it to.

    with WebhookReceiver() as receiver:
        receiver.answers = [500, 500]          # then 200 for every later delivery
        receiver.hold = True                   # keep requests waiting until `release()`
        receiver.wait_for(lambda got: len(got) >= 3)

Each delivery is recorded as `{"headers": {lowercased}, "body": str, "at": monotonic s}` when it
arrives, before it is answered. A real HTTP server on 127.0.0.1 in a thread of its own (stdlib
`ThreadingHTTPServer`), so the Worker reaches it over a socket as it would a backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self.answers: list[int] = []
        self.hold = False
        self._changed = threading.Condition()
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with receiver._changed:
                    receiver.received.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                              "body": body, "path": self.path, "at": time.monotonic()})
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    hold = receiver.hold
                    receiver._changed.notify_all()
                if hold:
                    receiver._released.wait(60)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answered {status}".encode())

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def release(self) -> None:
        self.hold = False
        self._released.set()

    def wait_for(self, predicate: Callable[[list[dict]], object], timeout: float = 30) -> list[dict]:
        """The deliveries so far, once `predicate` holds for them; AssertionError after `timeout` s."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.received), timeout):
                raise AssertionError(f"receiver: condition not met in {timeout} s; got {len(self.received)} "
                                     f"deliveries: {[r['body'][:80] for r in self.received]}")
            return list(self.received)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
