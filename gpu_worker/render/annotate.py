"""Annotate: cut the clips out of the video, burn each clip's name into it, and join them in order.

Each clip is rendered to its own segment (the input seeked to the clip's start, so a clip costs its
own length whatever its position, and memory stays flat however many clips there are); the segments,
made with identical settings, are then joined without re-encoding (ffmpeg's concat demuxer).

Names are drawn with ffmpeg's `drawtext` (libfreetype, in the static build) from a text file, so no
character of a name needs escaping and `%{...}` is never expanded; long names are wrapped to the frame
and cut after three lines. The font: GPU_FONT_FILE, else DejaVu Sans Bold from Debian's
`fonts-dejavu-core` (on the development machines and installed by the RunPod image), else what
fontconfig's `fc-match` names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from dataclasses import dataclass

from gpu_worker.ffmpeg_run import FfmpegError, InputError, Probe, encode_args, input_args
from gpu_worker.render import even_frame, graph_path, number, objects

DEBIAN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
MAX_LINES = 3
FC_MATCH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Clip:
    index: int
    start: float
    end: float
    name: str | None

    @property
    def duration(self) -> float:
        return self.end - self.start


def clips(params: dict, src: Probe) -> list[Clip]:
    out = []
    for i, (what, c) in enumerate(objects(params, "clips", "clip", required_by="annotate")):
        start, end = number(c.get("start_time"), f"{what}'s start_time"), number(c.get("end_time"), f"{what}'s end_time")
        if start < 0 or end <= start:
            raise InputError(f"{what} must have 0 <= start_time < end_time (it has {start:g} to {end:g})")
        if start >= src.duration:
            raise InputError(f"{what} starts at {start:g} s, after the video's end ({src.duration:g} s)")
        name = c.get("name")
        if name is not None and not isinstance(name, str):
            raise InputError(f"{what}'s name must be text")
        out.append(Clip(i, start, min(end, src.duration), name.strip() if name and name.strip() else None))
    return out


def font_file() -> str:
    configured = os.environ.get("GPU_FONT_FILE")
    if configured:
        if not os.path.isfile(configured):
            raise FfmpegError("GPU_FONT_FILE names no file")
        return configured
    if os.path.isfile(DEBIAN_FONT):
        return DEBIAN_FONT
    fc_match = shutil.which("fc-match")
    if fc_match:
        try:
            found = subprocess.run([fc_match, "-f", "%{file}", "sans:bold"], capture_output=True, text=True,
                                   timeout=FC_MATCH_TIMEOUT_S, check=False).stdout.strip()
        except subprocess.TimeoutExpired:
            found = ""
        if found and os.path.isfile(found):
            return found
    raise FfmpegError("no font to draw clip names with: install fonts-dejavu-core or set GPU_FONT_FILE")


def text_layout(src: Probe) -> tuple[int, int]:
    """(font size, characters per line) for the frame: the size scales with the height."""
    size = max(12, round(src.height / 22))
    per_line = max(8, int(0.9 * src.width / (0.58 * size)))
    return size, per_line


def wrap_name(name: str, per_line: int) -> str:
    lines: list[str] = []
    for paragraph in name.splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, per_line, break_long_words=True) or [""])
    lines = [line for line in lines if line.strip()] or [name[:per_line]]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][:max(1, per_line - 1)].rstrip() + "…"
    return "\n".join(lines)


def drawtext(textfile: str, font: str, src: Probe) -> str:
    size, _ = text_layout(src)
    margin = max(4, round(src.height / 20))
    return (f"drawtext=fontfile='{graph_path(font)}':textfile='{graph_path(textfile)}':expansion=none:"
            f"fontsize={size}:fontcolor=white:line_spacing={max(2, size // 5)}:box=1:boxcolor=black@0.55:"
            f"boxborderw={max(2, round(size * 0.35))}:x=(w-text_w)/2:y=h-text_h-{margin}")


def segment_args(clip: Clip, input_path: str, textfile: str | None, font: str | None, src: Probe,
                 out_path: str) -> list[str]:
    """ffmpeg arguments for one clip: seek, cut, a constant frame rate, the name, the shared encoding."""
    chain = [f"fps={src.fps}"]
    if textfile and font:
        chain.append(drawtext(textfile, font, src))
    chain.append(even_frame(src.width, src.height) + "format=yuv420p")
    return ["-ss", f"{clip.start:.6f}", *input_args(), "-i", input_path, "-t", f"{clip.duration:.6f}",
            "-map", "0:v:0", *(["-map", "0:a:0"] if src.has_audio else []), "-vf", ",".join(chain),
            *encode_args(src.has_audio), out_path]


def concat_list(paths: list[str]) -> str:
    return "".join(f"file '{graph_path(p)}'\n" for p in paths)


def concat_args(list_path: str, out_path: str) -> list[str]:
    return ["-f", "concat", "-safe", "0", "-i", list_path, "-map", "0", "-c", "copy", "-movflags", "+faststart",
            out_path]
