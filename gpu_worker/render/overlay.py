"""Overlay: highlight ellipses over their frame ranges, with an effect around them.

Effects (`effect_type`), each region's `opacity` giving the strength (defaults below):
- `dim`: everything outside the ellipses darkened toward black;
- `brighten`: everything outside the ellipses lightened toward white;
- `blur`: everything outside the ellipses blurred;
- `spotlight`: outside dimmed, and a ring in the region's `color` around each ellipse;
- `outline`: only a ring in the region's `color` (default white) around each ellipse;
- `none`: the video as it is (re-encoded), the regions ignored.
Inside an ellipse the video is untouched. Where regions overlap in time, every active ellipse is kept clear.

How: the effect layer (colour + alpha) is painted per frame here, in Python, at a reduced size (the
longer side at most 480 px) and sent to ffmpeg as a raw RGBA stream; ffmpeg scales it up (bilinear,
which also softens the edge) and overlays it on the video (for `blur`, its alpha masks a blurred
copy). Painting is a few row operations per frame, and frames whose active regions are the same
share one painted layer, so a region that follows a player through hundreds of short ranges costs
no more than one that stands still.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from gpu_worker.ffmpeg_run import InputError, Probe
from gpu_worker.render import even, even_frame, fraction, number, objects

EFFECTS = ("blur", "dim", "brighten", "spotlight", "outline", "none")
DEFAULT_OPACITY = {"dim": 0.6, "brighten": 0.5, "blur": 1.0, "spotlight": 0.75, "outline": 1.0, "none": 0.0}
MAX_LAYER_SIDE = 480
RING_FRACTION = 0.008  # ring thickness as a fraction of the frame's shorter side (at least 2 px)
CACHE_SIZE = 64


@dataclass(frozen=True)
class Region:
    start: int
    end: int  # inclusive
    x: float
    y: float
    radius_x: float
    radius_y: float
    opacity: float
    color: tuple[int, int, int]


def parse_color(value: object, what: str) -> tuple[tuple[int, int, int], float]:
    """'#RRGGBB' or '#RRGGBBAA' → (rgb, alpha 0-1); white when absent."""
    if value is None:
        return (255, 255, 255), 1.0
    if not isinstance(value, str) or len(value) not in (7, 9) or value[0] != "#":
        raise InputError(f"{what} must be #RRGGBB or #RRGGBBAA")
    try:
        parts = [int(value[i:i + 2], 16) for i in range(1, len(value), 2)]
    except ValueError:
        raise InputError(f"{what} must be #RRGGBB or #RRGGBBAA") from None
    return (parts[0], parts[1], parts[2]), (parts[3] / 255 if len(parts) == 4 else 1.0)


def regions(params: dict, src: Probe) -> tuple[str, list[Region]]:
    effect = params.get("effect_type")
    if effect not in EFFECTS:
        raise InputError(f"effect_type must be one of {', '.join(EFFECTS)}")
    last_frame = src.frames - 1
    out = []
    for what, r in objects(params, "highlight_regions", "highlight region"):
        start, end = r.get("start_frame"), r.get("end_frame")
        for name, value in (("start_frame", start), ("end_frame", end)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{what}'s {name} must be a whole number from 0")
        if end < start:
            raise InputError(f"{what} ends (frame {end}) before it starts (frame {start})")
        if start > last_frame:
            raise InputError(f"{what} starts at frame {start}, after the video's last frame ({last_frame})")
        opacity = r.get("opacity")
        opacity = DEFAULT_OPACITY[effect] if opacity is None else number(opacity, f"{what}'s opacity")
        if not 0 <= opacity <= 1:
            raise InputError(f"{what}'s opacity must be 0 to 1")
        color, alpha = parse_color(r.get("color"), f"{what}'s color")
        out.append(Region(start, min(end, last_frame), fraction(r.get("x"), f"{what}'s x"),
                          fraction(r.get("y"), f"{what}'s y"),
                          fraction(r.get("radius_x"), f"{what}'s radius_x", positive=True),
                          fraction(r.get("radius_y"), f"{what}'s radius_y", positive=True),
                          opacity * alpha, color))
    return effect, out


def layer_size(src: Probe) -> tuple[int, int]:
    scale = max(1, math.ceil(max(src.width, src.height) / MAX_LAYER_SIDE))
    return max(1, math.ceil(src.width / scale)), max(1, math.ceil(src.height / scale))


def _span(cx: float, cy: float, rx: float, ry: float, yc: float) -> tuple[float, float] | None:
    """Where the row through `yc` crosses the ellipse, or None."""
    if rx <= 0 or ry <= 0:
        return None
    dy = (yc - cy) / ry
    if abs(dy) >= 1:
        return None
    half = rx * math.sqrt(1 - dy * dy)
    return cx - half, cx + half


class Layer:
    """The effect layer of each frame, as raw RGBA bytes of `size`."""

    def __init__(self, effect: str, regs: list[Region], src: Probe) -> None:
        self.effect, self.regions, self.src = effect, regs, src
        self.size = layer_size(src)
        lw, lh = self.size
        ring_px = max(2.0, RING_FRACTION * min(src.width, src.height))
        self.ring = max(1.0, ring_px * lw / src.width)
        self._cache: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self._starts = sorted(range(len(regs)), key=lambda i: regs[i].start)

    @property
    def needed(self) -> bool:
        return self.effect != "none" and bool(self.regions)

    def active(self, n: int) -> tuple[int, ...]:
        return tuple(i for i in self._starts if self.regions[i].start <= n <= self.regions[i].end)

    def frame(self, n: int) -> bytes:
        key = self.active(n)
        painted = self._cache.get(key)
        if painted is None:
            painted = self.paint(key)
            self._cache[key] = painted
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return painted

    def frames(self, count: int) -> Iterator[bytes]:
        for n in range(count):
            yield self.frame(n)

    def _geometry(self, r: Region) -> tuple[float, float, float, float]:
        lw, lh = self.size
        return r.x * lw, r.y * lh, r.radius_x * lw, r.radius_y * lh

    def paint(self, active: tuple[int, ...]) -> bytes:
        """The layer with regions `active` (indices): holes for outside effects, rings for outlines."""
        lw, lh = self.size
        regs = [self.regions[i] for i in active]
        outside = self.effect in ("dim", "brighten", "blur", "spotlight") and regs
        rings = self.effect in ("spotlight", "outline")
        shade = 255 if self.effect == "brighten" else 0
        base_alpha = round(255 * max((r.opacity for r in regs), default=0)) if outside else 0
        rows = []
        for y in range(lh):
            row = bytearray(bytes((shade, shade, shade, base_alpha)) * lw)
            yc = y + 0.5
            if outside:
                for r in regs:
                    cx, cy, rx, ry = self._geometry(r)
                    span = _span(cx, cy, rx, ry, yc)
                    if span:
                        _hole(row, span, lw, base_alpha)
            if rings:
                for r in regs:
                    cx, cy, rx, ry = self._geometry(r)
                    half = self.ring / 2
                    outer = _span(cx, cy, rx + half, ry + half, yc)
                    if not outer:
                        continue
                    inner = _span(cx, cy, rx - half, ry - half, yc)
                    alpha = round(255 * (r.opacity if self.effect == "outline" else 1.0))
                    pieces = [outer] if not inner else [(outer[0], inner[0]), (inner[1], outer[1])]
                    for piece in pieces:
                        _fill(row, piece, lw, (*r.color, alpha))
            rows.append(bytes(row))
        return b"".join(rows)


def _cover(span: tuple[float, float], lw: int) -> Iterator[tuple[int, int, float]]:
    """Runs of the row under `span`: (first pixel, end pixel, coverage) — full runs and partial edge pixels."""
    x0, x1 = max(0.0, span[0]), min(float(lw), span[1])
    if x1 <= x0:
        return
    a, b = math.floor(x0), math.ceil(x1)
    if b - a == 1:
        yield a, b, x1 - x0
        return
    yield a, a + 1, (a + 1) - x0
    if b - 1 > a + 1:
        yield a + 1, b - 1, 1.0
    yield b - 1, b, x1 - (b - 1)


def _hole(row: bytearray, span: tuple[float, float], lw: int, base_alpha: int) -> None:
    """Clear the alpha under `span` (partly at the edges), keeping the lower alpha where holes meet."""
    for first, end, cover in _cover(span, lw):
        if cover >= 1.0:
            row[4 * first + 3:4 * end:4] = bytes(end - first)  # every 4th byte is alpha
        else:
            row[4 * first + 3] = min(row[4 * first + 3], round(base_alpha * (1 - cover)))


def _fill(row: bytearray, span: tuple[float, float], lw: int, rgba: tuple[int, int, int, int]) -> None:
    """Paint `rgba` under `span`; an edge pixel partly covered gets that part of the alpha, if it is more."""
    for first, end, cover in _cover(span, lw):
        if cover >= 1.0:
            row[4 * first:4 * end] = bytes(rgba) * (end - first)
        else:
            alpha = round(rgba[3] * cover)
            if alpha > row[4 * first + 3]:
                row[4 * first:4 * first + 4] = bytes((*rgba[:3], alpha))


def filter_graph(effect: str, src: Probe, layer: tuple[int, int] | None) -> str:
    """The graph: a constant-rate main stream (frame n at n / fps, as the layer's frames are numbered) and,
    when there is a layer (input 1), the layer scaled to the frame and laid over it."""
    main = f"[0:v]fps={src.fps},setpts=N/(FRAME_RATE*TB)"
    out = even_frame(src.width, src.height) + "format=yuv420p[v]"
    if layer is None:
        return f"{main},{out}"
    up = f"[1:v]scale={src.width}:{src.height}:flags=bilinear,format=yuva420p"
    # shortest: the layer is fed a little longer than the video, which alone decides the length.
    lay = f"overlay=format=auto:shortest=1,{out}"
    if effect != "blur":
        return f"{main}[main];{up}[layer];[main][layer]{lay}"
    small_w, small_h = even(src.width / 4), even(src.height / 4)
    sigma = max(1.0, 0.02 * min(src.width, src.height) / 4)
    return (f"{main},split[main][tob];[tob]scale={small_w}:{small_h},gblur=sigma={sigma:.2f},"
            f"scale={src.width}:{src.height}[blurred];{up},alphaextract[mask];"
            f"[blurred][mask]alphamerge[veil];[main][veil]{lay}")


def layer_input_args(size: tuple[int, int], src: Probe) -> list[str]:
    return ["-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{size[0]}x{size[1]}", "-framerate", str(src.fps),
            "-i", "pipe:0"]
