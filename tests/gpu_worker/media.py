"""Test media: small generated clips, a local HTTP server that plays storage and the callback receiver,
and frame decoding for pixel checks."""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path, width=320, height=180, fps=15, seconds=2.0, source="testsrc2", audio=False) -> str:
    """A clip from one of ffmpeg's lavfi sources (`source` may be a full lavfi graph with {w} {h} {fps} {d})."""
    graph = source.format(w=width, h=height, fps=fps, d=seconds) if "{" in source else \
        f"{source}=size={width}x{height}:rate={fps}:duration={seconds}"
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i", graph]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-shortest"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0" if "geq" in graph else "18",
             "-pix_fmt", "yuv444p" if "geq" in graph else "yuv420p", str(path)]
    subprocess.run(args, check=True, timeout=60)
    return str(path)


def count_frames(path) -> tuple[int, float]:
    return imageio_ffmpeg.count_frames_and_secs(str(path))


def frames_rgb(path, indices: list[int], width: int, height: int) -> dict[int, bytes]:
    """Decoded frames `indices` of `path` as raw RGB24 bytes (row-major, 3 bytes a pixel)."""
    out = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True, timeout=60)
    size = width * height * 3
    return {i: out.stdout[i * size:(i + 1) * size] for i in indices if len(out.stdout) >= (i + 1) * size}


def pixel(frame: bytes, width: int, x: int, y: int) -> tuple[int, int, int]:
    i = (y * width + x) * 3
    return frame[i], frame[i + 1], frame[i + 2]


def mean_luma(frame: bytes, width: int, box: tuple[int, int, int, int]) -> float:
    """Mean of (R+G+B)/3 over the box (x0, y0, x1, y1), exclusive ends."""
    x0, y0, x1, y1 = box
    total = n = 0
    for y in range(y0, y1):
        row = frame[(y * width + x0) * 3:(y * width + x1) * 3]
        total += sum(row)
        n += len(row)
    return total / n


@dataclass
class Storage:
    """Input objects to GET, outputs PUT, callbacks POSTed: what the Worker and R2 are to the handler."""
    objects: dict[str, bytes] = field(default_factory=dict)
    puts: dict[str, tuple[dict, bytes]] = field(default_factory=dict)
    callbacks: list[dict] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, predicate, timeout=60.0):
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self), timeout), "timed out waiting"


def serve_storage():
    """A Storage and its server on 127.0.0.1 (shut it down with server.shutdown())."""
    store = Storage()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, code: int, body: bytes = b"{}") -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            data = store.objects.get(self.path.split("?")[0])
            if data is None:
                return self._reply(404, b"missing")
            self._reply(200, data)

        def do_PUT(self):
            length = self.headers.get("Content-Length")
            if length is None:
                return self._reply(411)
            body = self.rfile.read(int(length))
            with store.cond:
                store.puts[self.path.split("?")[0]] = (dict(self.headers), body)
                store.cond.notify_all()
            self._reply(200)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with store.cond:
                store.callbacks.append({"path": self.path, "body": body})
                store.cond.notify_all()
            self._reply(200, b'{"received": true}')

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    store.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return store, server
