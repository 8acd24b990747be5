"""Running ffmpeg: which binary, what a video is (probe), which H.264 encoder, and one run with progress.

Every run has a deadline and a stall limit: ffmpeg reports its position with `-progress pipe:1`, and a
run that reports nothing new for `stall_s` is killed, as is one that outlives `timeout_s`. Only ffmpeg's
last stderr lines are kept, for the error message; ffmpeg only ever sees local paths, never URLs.
"""

from __future__ import annotations

import functools
import math
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction

PROBE_TIMEOUT_S = 30.0
ENCODER_CHECK_TIMEOUT_S = 20.0


class FfmpegError(RuntimeError):
    """ffmpeg failed, timed out or stalled; the message says which, with ffmpeg's own last words."""


class InputError(ValueError):
    """The job's input cannot be rendered as asked (bad video, bad params): the user's to fix."""


def ffmpeg_exe() -> str:
    """FFMPEG_BINARY, else the static binary of PyPI `imageio-ffmpeg` (locally and in the RunPod image), else PATH."""
    configured = os.environ.get("FFMPEG_BINARY")
    if configured:
        return configured
    try:
        import imageio_ffmpeg
    except ImportError:
        found = shutil.which("ffmpeg")
        if not found:
            raise FfmpegError("no ffmpeg: install imageio-ffmpeg or set FFMPEG_BINARY") from None
        return found
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Probe:
    width: int
    height: int
    fps: Fraction
    duration: float
    has_audio: bool

    @property
    def frames(self) -> int:
        """Frames at `fps` over the duration: the frame numbers params may name are 0 .. frames - 1."""
        return max(1, round(self.duration * self.fps))


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_SIZE = re.compile(r"(?<![\w])(\d{1,5})x(\d{1,5})(?![\w])")
_RATE = re.compile(r"(\d+(?:\.\d+)?)(k?) (fps|tbr)")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees")
_NTSC = {24: Fraction(24000, 1001), 30: Fraction(30000, 1001), 60: Fraction(60000, 1001),
         120: Fraction(120000, 1001)}


def frame_rate(text: str) -> Fraction:
    """ffmpeg prints rates rounded ("29.97"); NTSC rates are meant as n*1000/1001, others as printed."""
    value = Fraction(text)
    for whole, ntsc in _NTSC.items():
        if abs(value - ntsc) < Fraction(1, 100) and value != whole:
            return ntsc
    return value.limit_denominator(1001)


def parse_probe(stderr: str) -> Probe:
    """What `ffmpeg -i file` says about a file (ffprobe is not in imageio-ffmpeg); InputError when no video."""
    video = next((line for line in stderr.splitlines() if re.search(r"Stream #\d+:\d+.*: Video:", line)), None)
    if video is None:
        last = [line.strip() for line in stderr.splitlines() if line.strip()]
        reason = last[-1] if last else "no video stream"
        raise InputError(f"the input is not a readable video ({_without_paths(reason)})")
    size = _SIZE.search(video.split("Video:", 1)[1])
    duration = _DURATION.search(stderr)
    if size is None or duration is None:
        raise InputError("the input video has no size or no duration")
    width, height = int(size.group(1)), int(size.group(2))
    hours, minutes, seconds = duration.groups()
    total = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    rates = {kind: (text, k) for text, k, kind in _RATE.findall(video)}
    text, k = rates.get("fps") or rates.get("tbr") or ("0", "")
    fps = frame_rate(text) * (1000 if k else 1)
    if fps <= 0 or fps > 1000 or total <= 0 or width < 2 or height < 2:
        raise InputError("the input video has no usable frame rate, size or duration")
    rotation = _ROTATION.search(stderr)
    if rotation and round(abs(float(rotation.group(1)))) % 180 == 90:  # ffmpeg turns the frames upright
        width, height = height, width
    has_audio = any(re.search(r"Stream #\d+:\d+.*: Audio:", line) for line in stderr.splitlines())
    return Probe(width, height, fps, total, has_audio)


def _without_paths(text: str) -> str:
    return re.sub(r"(?<![\w/])/[\w./-]+", "<file>", text)[:300]


_NOISE = ("Terminating thread", "Task finished", "Nothing was written", "Could not open encoder",
          "Error reinitializing filters", "Conversion failed")


def _ffmpeg_said(lines: Iterable[str]) -> str:
    """ffmpeg's error lines without the knock-on ones and without the `[context @ 0x...]` prefixes."""
    kept = [re.sub(r"^(\[[^\]]*@ 0x[0-9a-f]+\] )+", "", line) for line in lines if line.strip()]
    kept = [line for line in kept if not line.startswith(_NOISE)]
    return "; ".join(kept[:3])


def probe(path: str, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    try:
        done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path], capture_output=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"reading the input video took over {timeout_s:.0f} s") from None
    return parse_probe(done.stderr.decode("utf-8", "replace"))


@functools.cache
def _nvenc_works(exe: str) -> bool:
    """h264_nvenc is compiled into the static build everywhere; only a test encode shows a usable GPU."""
    try:
        listed = subprocess.run([exe, "-hide_banner", "-nostdin", "-encoders"], capture_output=True,
                                timeout=ENCODER_CHECK_TIMEOUT_S, check=False)
        if b"h264_nvenc" not in listed.stdout:
            return False
        test = subprocess.run([exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                               "color=c=black:s=256x256:r=30:d=0.2", "-c:v", "h264_nvenc", "-f", "null", "-"],
                              capture_output=True, timeout=ENCODER_CHECK_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return test.returncode == 0


def video_encoder() -> str:
    """GPU_ENCODER (libx264 | h264_nvenc | auto, default auto): NVENC when a test encode succeeds."""
    choice = os.environ.get("GPU_ENCODER", "auto")
    if choice in ("libx264", "h264_nvenc"):
        return choice
    return "h264_nvenc" if _nvenc_works(ffmpeg_exe()) else "libx264"


def encode_args(has_audio: bool) -> list[str]:
    """Output options shared by every render: H.264 yuv420p MP4 that plays everywhere, AAC audio."""
    if video_encoder() == "h264_nvenc":
        video = ["-c:v", "h264_nvenc", "-preset", "p4", "-rc", "vbr", "-cq", "23", "-b:v", "0"]
    else:
        video = ["-c:v", "libx264", "-preset", os.environ.get("X264_PRESET", "veryfast"), "-crf",
                 os.environ.get("X264_CRF", "20")]
    audio = ["-c:a", "aac", "-b:a", "128k"] if has_audio else ["-an"]
    return [*video, "-pix_fmt", "yuv420p", *audio, "-movflags", "+faststart"]


def input_args() -> list[str]:
    """GPU_RENDER_REALTIME=1 reads the input no faster than it plays (-re): for demos that show progress."""
    return ["-re"] if os.environ.get("GPU_RENDER_REALTIME") == "1" else []


def parse_progress(line: str) -> float | None:
    """Seconds of output written, from one `-progress` line (`out_time_us=...`), or None."""
    key, _, value = line.strip().partition("=")
    if key in ("out_time_us", "out_time_ms") and value.lstrip("-").isdigit():  # both are microseconds
        return max(0.0, int(value) / 1_000_000)
    return None


def run(args: list[str], *, total_s: float, on_progress: Callable[[float], None] | None = None,
        timeout_s: float, stall_s: float = 120.0, stdin_chunks: Iterable[bytes] | None = None) -> None:
    """Run ffmpeg with `args` (everything after the binary's name); report the fraction done (0-1).

    `stdin_chunks`, when given, is written to ffmpeg's stdin from a thread (an input `pipe:0`).
    Raises FfmpegError when ffmpeg fails, outlives `timeout_s`, or reports no progress for `stall_s`.
    """
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-progress", "pipe:1", "-stats_period", "0.25",
               *([] if stdin_chunks is not None else ["-nostdin"]), "-y", *args]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE if stdin_chunks is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue[str | None] = queue.Queue()
    tail: deque[str] = deque(maxlen=12)
    threads = [threading.Thread(target=_pump, args=(proc.stdout, lines.put, None), daemon=True),
               threading.Thread(target=_pump, args=(proc.stderr, tail.append), daemon=True)]
    if stdin_chunks is not None:
        threads.append(threading.Thread(target=_feed, args=(proc, stdin_chunks), daemon=True))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    last_news = time.monotonic()
    done_s = -1.0
    try:
        while True:
            now = time.monotonic()
            if now > deadline:
                raise FfmpegError(f"ffmpeg took over {timeout_s:g} s")
            if now - last_news > stall_s:
                raise FfmpegError(f"ffmpeg made no progress for {stall_s:g} s")
            try:
                line = lines.get(timeout=min(1.0, max(0.01, deadline - now)))
            except queue.Empty:
                continue
            if line is None:  # stdout closed: ffmpeg is exiting
                break
            position = parse_progress(line)
            if position is not None and position > done_s:
                done_s, last_news = position, time.monotonic()
                if on_progress and total_s > 0:
                    on_progress(min(1.0, position / total_s))
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise FfmpegError(f"ffmpeg took over {timeout_s:g} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for thread in threads:
            thread.join(5)
    if code != 0:
        raise FfmpegError(f"ffmpeg failed (exit {code}): {_without_paths(_ffmpeg_said(tail)) or 'no message'}")


def _pump(stream, put: Callable, closed: object = ...) -> None:
    for raw in iter(stream.readline, b""):
        put(raw.decode("utf-8", "replace").rstrip())
    if closed is not ...:  # the progress queue learns that stdout closed
        put(closed)


def _feed(proc: subprocess.Popen, chunks: Iterable[bytes]) -> None:
    try:
        for chunk in chunks:
            if proc.poll() is not None:
                break
            proc.stdin.write(chunk)
        proc.stdin.close()
    except (BrokenPipeError, ValueError, OSError):  # ffmpeg stopped reading (it has all it needs, or failed)
        pass


def seconds_for(duration_s: float) -> float:
    """A render's time limit: RENDER_TIMEOUT_S, or generous for the video's length (10 s per second, 5 min at least)."""
    configured = os.environ.get("RENDER_TIMEOUT_S")
    if configured:
        return float(configured)
    return max(300.0, 10.0 * math.ceil(duration_s))
