"""The GPU worker's outside world: download the input, upload the output, report to the callback URL.

Each step has a timeout per network operation and an overall deadline. URLs here are credentials
(presigned storage URLs, the callback URL's `sig`): no message or log line carries one, only
`redact`ed text.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator

import httpx

log = logging.getLogger("gpu_worker")
# httpx logs every request's full URL at INFO: here a URL is a credential, so only its warnings get through.
logging.getLogger("httpx").setLevel(logging.WARNING)

CHUNK = 1 << 20
CALLBACK_TIMEOUT_S = 10.0
FINAL_CALLBACK_ATTEMPTS = 3


class TransferError(RuntimeError):
    """A download or upload failed; the message names the step and the HTTP status, never the URL."""


def redact(text: str) -> str:
    """Text with every URL cut before its query string and userinfo dropped (signatures live there)."""
    def cut(match: re.Match) -> str:
        url = match.group(0).split("?", 1)[0].split("#", 1)[0]
        return re.sub(r"//[^/@]*@", "//", url)
    return re.sub(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+", cut, text)


def _timeout(read_s: float = 60.0) -> httpx.Timeout:
    return httpx.Timeout(read_s, connect=10.0)


def download(url: str, path: str, *, deadline_s: float, max_bytes: int,
             on_progress: Callable[[float], None] | None = None) -> int:
    """Stream `url` into `path`; report the fraction done when the size is known. Returns the bytes read."""
    start = time.monotonic()
    try:
        with httpx.stream("GET", url, timeout=_timeout(), follow_redirects=True) as resp:
            if resp.status_code != 200:
                raise TransferError(f"downloading the input failed: HTTP {resp.status_code}")
            size = int(resp.headers.get("content-length") or 0)
            if size > max_bytes:
                raise TransferError(f"the input is {size} bytes, over the limit of {max_bytes}")
            got = 0
            with open(path, "wb") as out:
                for chunk in resp.iter_bytes(CHUNK):
                    got += len(chunk)
                    if got > max_bytes:
                        raise TransferError(f"the input is over the limit of {max_bytes} bytes")
                    if time.monotonic() - start > deadline_s:
                        raise TransferError(f"downloading the input took over {deadline_s:.0f} s")
                    out.write(chunk)
                    if on_progress and size:
                        on_progress(got / size)
    except httpx.HTTPError as exc:
        raise TransferError(f"downloading the input failed: {type(exc).__name__}") from None
    if got == 0:
        raise TransferError("the input is empty")
    return got


def upload(url: str, path: str, headers: dict[str, str], *, deadline_s: float,
           on_progress: Callable[[float], None] | None = None) -> None:
    """PUT the file at `path` to `url` with `headers` (those a presigned URL signs) and its Content-Length."""
    size = os.path.getsize(path)
    start = time.monotonic()

    def body() -> Iterator[bytes]:
        sent = 0
        with open(path, "rb") as src:
            while chunk := src.read(CHUNK):
                if time.monotonic() - start > deadline_s:
                    raise TransferError(f"uploading the output took over {deadline_s:.0f} s")
                yield chunk
                sent += len(chunk)
                if on_progress:
                    on_progress(sent / size)

    all_headers = {**{str(k): str(v) for k, v in headers.items()}, "Content-Length": str(size)}
    try:
        resp = httpx.put(url, content=body(), headers=all_headers, timeout=_timeout(120.0))
    except httpx.HTTPError as exc:
        raise TransferError(f"uploading the output failed: {type(exc).__name__}") from None
    if not 200 <= resp.status_code < 300:
        raise TransferError(f"uploading the output failed: HTTP {resp.status_code}")


class Reporter:
    """Reports a job to its callback URL (the Worker's signed URL) and to `listener` (RunPod's progress).

    Progress is an integer that only ever goes up: a report that would not raise it is not sent.
    A progress report that fails is logged and skipped (the next one may arrive); the final report is
    tried three times, and if the Worker never hears it, RunPod's webhook and the Worker's watchdog
    still carry the outcome.
    """

    def __init__(self, callback_url: str | None, job_label: str,
                 listener: Callable[[dict], None] | None = None) -> None:
        self.callback_url, self.job_label, self.listener = callback_url, job_label, listener
        self.sent: list[dict] = []  # every body reported, in order (what the tests and logs look at)
        self._last = -1
        self._client = httpx.Client(timeout=_timeout(CALLBACK_TIMEOUT_S))

    def close(self) -> None:
        self._client.close()

    def progress(self, percent: float, message: str) -> None:
        value = int(max(0, min(99, percent)))  # 100 belongs to "complete"
        if value <= self._last:
            return
        self._last = value
        self._report({"status": "progress", "progress": value, "message": message}, attempts=1)

    def complete(self, output_key: str | None) -> None:
        body: dict = {"status": "complete"}
        if output_key:
            body["output_key"] = output_key
        self._report(body, attempts=FINAL_CALLBACK_ATTEMPTS)

    def error(self, message: str, *, retryable: bool = False) -> None:
        """The job failed; `retryable` when not for its input (the Worker may run it again)."""
        self._report({"status": "error", "error": redact(message), "retryable": retryable},
                     attempts=FINAL_CALLBACK_ATTEMPTS)

    def _report(self, body: dict, attempts: int) -> None:
        self.sent.append(body)
        if self.listener:
            self.listener(body)
        if not self.callback_url:
            return
        for attempt in range(attempts):
            try:
                resp = self._client.post(self.callback_url, json=body)
                if resp.status_code < 500:
                    if resp.status_code >= 400:
                        log.warning("job %s: the callback answered HTTP %d to %s", self.job_label,
                                    resp.status_code, body["status"])
                    return
                reason = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            log.warning("job %s: %s callback failed (%s), attempt %d of %d", self.job_label, body["status"],
                        reason, attempt + 1, attempts)
            if attempt + 1 < attempts:
                time.sleep(1.0 * (attempt + 1))  # a pause before retrying a server that just failed
