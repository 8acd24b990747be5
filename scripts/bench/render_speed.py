"""Render speed of the GPU worker's handler: seconds of render per second of video, per export type.

Usage: .venv/bin/python scripts/bench/render_speed.py [--seconds 10] [--runs 3] [--preset veryfast]

Generates a test clip (ffmpeg's testsrc2 with a sine tone: moving detail, so the encoder has work),
1280x720 at 30 fps, and a 1080x1920 one (what a framed working video is), then times
`gpu_worker.handler.render` — the ffmpeg part of a job, without download and upload — for:
- framing: 1280x720 → 1080x1920, a 9:16 window panning across the frame (a new crop every frame);
- overlay (dim, blur, outline): a highlight ellipse that moves every 10 frames (a new layer every
  10 frames), on both clips; `none` is the baseline: decode and encode only;
- annotate: three 3-second clips with names, cut and joined, on both clips.
Each row is the median of `runs` renders. The encoder is whatever the handler picks (NVENC when a
test encode succeeds, else libx264 with X264_PRESET, default veryfast, as in production).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gpu_worker import ffmpeg_run  # noqa: E402
from gpu_worker.handler import render  # noqa: E402


def make_clip(path: Path, width: int, height: int, seconds: float) -> str:
    subprocess.run([ffmpeg_run.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-preset",
                    "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
                   check=True, timeout=600)
    return str(path)


def moving_ellipse(frames: int, effect: str) -> dict:
    regions = [{"start_frame": start, "end_frame": start + 9, "x": 0.2 + 0.6 * start / frames, "y": 0.5,
                "radius_x": 0.12, "radius_y": 0.08} for start in range(0, frames, 10)]
    return {"highlight_regions": regions, "effect_type": effect}


def cases(seconds: float) -> list[tuple[str, str, str, dict]]:
    frames = int(seconds * 30)
    pan = {"crop_keyframes": [{"frame": 0, "x": 0, "y": 0, "width": 0.316, "height": 1},
                              {"frame": frames - 1, "x": 0.684, "y": 0, "width": 0.316, "height": 1}]}
    clips = {"clips": [{"start_time": i * seconds / 3, "end_time": i * seconds / 3 + 3, "name": f"Clip {i + 1}: a goal"}
                       for i in range(3)]}
    rows = [("framing", "1280x720 → 1080x1920", "wide", pan)]
    for clip in ("wide", "tall"):
        for effect in ("none", "dim", "blur", "outline"):
            rows.append(("overlay", f"{effect}, {'1280x720' if clip == 'wide' else '1080x1920'}", clip,
                         moving_ellipse(frames, effect)))
        rows.append(("annotate", f"3 named clips, {'1280x720' if clip == 'wide' else '1080x1920'}", clip, clips))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--preset", default=os.environ.get("X264_PRESET", "veryfast"))
    args = parser.parse_args()
    os.environ["X264_PRESET"] = args.preset
    print(f"encoder: {ffmpeg_run.video_encoder()} (x264 preset {args.preset}); ffmpeg: {ffmpeg_run.ffmpeg_exe()}")
    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        work = Path(tmp)
        sources = {"wide": make_clip(work / "wide.mp4", 1280, 720, args.seconds),
                   "tall": make_clip(work / "tall.mp4", 1080, 1920, args.seconds)}
        probes = {name: ffmpeg_run.probe(path) for name, path in sources.items()}
        print(f"| type | case | video s | render s (median of {args.runs}) | s of render per s of video |")
        print("|---|---|---|---|---|")
        for case, (kind, label, clip, params) in enumerate(cases(args.seconds)):
            src = probes[clip]
            video_s = sum(c["end_time"] - c["start_time"] for c in params["clips"]) if kind == "annotate" \
                else src.duration
            times = []
            for run in range(args.runs):
                out_dir = work / f"case{case}-{kind}-{run}"
                out_dir.mkdir()
                t0 = time.perf_counter()
                render(kind, params, src, sources[clip], str(out_dir / "out.mp4"), str(out_dir), lambda _f: None)
                times.append(time.perf_counter() - t0)
                shutil.rmtree(out_dir)
            median = statistics.median(times)
            print(f"| {kind} | {label} | {video_s:.1f} | {median:.2f} | {median / video_s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
