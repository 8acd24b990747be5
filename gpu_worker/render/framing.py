"""Framing: a crop window that moves between keyframes, scaled to the output size (default 1080x1920, 9:16).

The window is interpolated linearly in time between keyframes (a `frame` keyframe is at frame / fps
seconds) and held before the first and after the last. ffmpeg's crop filter evaluates its size once,
so the window is set per source frame by `sendcmd` commands (one line per frame where it changes);
`scale` then takes each crop, whatever its size, to the output size. A window whose aspect differs
from the output's is stretched to it: the editor draws windows in the output's aspect.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction

from gpu_worker.ffmpeg_run import InputError, Probe
from gpu_worker.render import EPSILON, even, fraction, graph_path, number, objects

DEFAULT_WIDTH, DEFAULT_HEIGHT = 1080, 1920
MAX_OUTPUT_FPS = 240


@dataclass(frozen=True)
class Keyframe:
    time: float
    x: float
    y: float
    width: float
    height: float


def keyframes(params: dict, src: Probe) -> list[Keyframe]:
    """The params' keyframes in time order, checked against the frame; InputError says which is wrong."""
    out = []
    for what, kf in objects(params, "crop_keyframes", "crop keyframe", required_by="framing"):
        frame, time = kf.get("frame"), kf.get("time")
        if (frame is None) == (time is None):
            raise InputError(f"{what} needs exactly one of frame or time")
        at = number(frame, f"{what}'s frame") / float(src.fps) if frame is not None else number(time, f"{what}'s time")
        if at < 0:
            raise InputError(f"{what} is before the start of the video")
        x, y = fraction(kf.get("x"), f"{what}'s x"), fraction(kf.get("y"), f"{what}'s y")
        w = fraction(kf.get("width"), f"{what}'s width", positive=True)
        h = fraction(kf.get("height"), f"{what}'s height", positive=True)
        if x + w > 1 + EPSILON or y + h > 1 + EPSILON:
            raise InputError(f"{what} is outside the frame: x + width = {x + w:g} and y + height = {y + h:g} "
                             "must not exceed 1")
        out.append(Keyframe(at, x, y, min(w, 1 - x), min(h, 1 - y)))
    out.sort(key=lambda k: k.time)  # stable: of two keyframes at one time, the later one listed wins
    return out


def window_at(kfs: list[Keyframe], t: float) -> tuple[float, float, float, float]:
    """The normalised window (x, y, width, height) at `t` seconds: linear between keyframes, held outside."""
    times = [k.time for k in kfs]
    i = bisect_right(times, t)
    if i == 0:
        k = kfs[0]
        return k.x, k.y, k.width, k.height
    if i == len(kfs):
        k = kfs[-1]
        return k.x, k.y, k.width, k.height
    a, b = kfs[i - 1], kfs[i]
    if b.time == a.time:
        return b.x, b.y, b.width, b.height
    f = (t - a.time) / (b.time - a.time)
    return (a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f, a.width + (b.width - a.width) * f,
            a.height + (b.height - a.height) * f)


def pixel_window(window: tuple[float, float, float, float], src: Probe) -> tuple[int, int, int, int]:
    """The window in source pixels (w, h, x, y), inside the frame, at least 2x2."""
    x, y, w, h = window
    pw = min(src.width, max(2, round(w * src.width)))
    ph = min(src.height, max(2, round(h * src.height)))
    px = min(src.width - pw, max(0, round(x * src.width)))
    py = min(src.height - ph, max(0, round(y * src.height)))
    return pw, ph, px, py


def crop_commands(kfs: list[Keyframe], src: Probe) -> tuple[tuple[int, int, int, int], str]:
    """The first frame's window and the `sendcmd` script that moves the crop for every later frame.

    Frame k of the constant-rate stream is at k / fps; its command is timed half a frame earlier, so
    rounding of timestamps can never make it miss its frame.
    """
    first = pixel_window(window_at(kfs, 0.0), src)
    lines, last = [], first
    for k in range(1, src.frames + 1):
        t = k / src.fps
        current = pixel_window(window_at(kfs, float(t)), src)
        if current != last:
            w, h, x, y = current
            at = float((k - Fraction(1, 2)) / src.fps)
            lines.append(f"{at:.6f} crop w {w}, crop h {h}, crop x {x}, crop y {y};")
            last = current
    return first, "".join(line + "\n" for line in lines)


def output_size(params: dict) -> tuple[int, int]:
    """output_width x output_height, default 1080x1920; one given alone keeps 9:16; made even for H.264."""
    width, height = params.get("output_width"), params.get("output_height")
    for name, value in (("output_width", width), ("output_height", height)):
        if value is not None and (number(value, name) < 16 or value > 7680):
            raise InputError(f"{name} must be 16 to 7680 pixels")
    if width is None and height is None:
        width, height = DEFAULT_WIDTH, DEFAULT_HEIGHT
    elif height is None:
        height = width * DEFAULT_HEIGHT / DEFAULT_WIDTH
    elif width is None:
        width = height * DEFAULT_WIDTH / DEFAULT_HEIGHT
    return even(width), even(height)


def output_fps(params: dict) -> Fraction | None:
    fps = params.get("fps")
    if fps is None:
        return None
    value = number(fps, "fps")
    if not 0 < value <= MAX_OUTPUT_FPS:
        raise InputError(f"fps must be above 0 and at most {MAX_OUTPUT_FPS}")
    return Fraction(value).limit_denominator(1001)


def filter_graph(src: Probe, first: tuple[int, int, int, int], commands_path: str | None,
                 size: tuple[int, int], fps: Fraction | None) -> str:
    """Constant rate at the source's fps (so frame k is at k / fps), the moving crop, the output size.

    `commands_path` is the sendcmd script, None when the window never moves."""
    w, h, x, y = first
    out_w, out_h = size
    steps = [f"fps={src.fps}"]
    if commands_path:
        steps.append(f"sendcmd=f='{graph_path(commands_path)}'")
    steps += [f"crop=w={w}:h={h}:x={x}:y={y}:exact=1", f"scale={out_w}:{out_h}:flags=bicubic", "setsar=1"]
    if fps is not None:
        steps.append(f"fps={fps}")
    steps.append("format=yuv420p")
    return "[0:v]" + ",".join(steps) + "[v]"
