"""`scripts/demo`: the whole pipeline on one machine, as a new user would try it.

Against the stack `scripts/dev` serves (the Worker on workerd + Pyodide and the local RunPod-compatible
endpoint running the reference GPU worker): make a short test clip with ffmpeg, upload it through an
upload URL, start a framing export, show its live progress from the WebSocket as a bar in the
terminal, download the result and check it is 1080×1920 with the clip's duration; then the same for
overlay and annotate. Exits non-zero if any export fails or any check does not hold.

It uses the server API key of `.dev.vars` (the first of API_KEYS) and acts for the user `demo`
through `reel_ballers_client`, the package a backend would use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reel_ballers_client import ApiError, WorkersClient  # noqa: E402

from dev_runtime.dev_vars import worker_values  # noqa: E402
from gpu_worker.ffmpeg_run import ffmpeg_exe, probe  # noqa: E402

USER = "demo"
CLIP_S, CLIP_SIZE, CLIP_FPS = 4.0, (1280, 720), 30
INPUT_KEY = "working_videos/demo-clip.mp4"
BAR = 30


def make_clip(path: Path) -> None:
    """A test pattern with a moving frame counter and a tone: something visibly changes in every export."""
    width, height = CLIP_SIZE
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={CLIP_FPS}:duration={CLIP_S}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={CLIP_S}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(path)], check=True, timeout=120)


def exports() -> list[tuple[str, dict, tuple[int, int], float]]:
    """(type, params, expected size, expected duration) of each export the demo runs."""
    frames = int(CLIP_S * CLIP_FPS)
    return [
        ("framing", {"crop_keyframes": [
            {"frame": 0, "x": 0.0, "y": 0.0, "width": 0.3, "height": 0.9},
            {"frame": frames - 1, "x": 0.7, "y": 0.1, "width": 0.3, "height": 0.9}]},
         (1080, 1920), CLIP_S),
        ("overlay", {"effect_type": "dim", "highlight_regions": [
            {"start_frame": 0, "end_frame": frames - 1, "x": 0.5, "y": 0.5, "radius_x": 0.2, "radius_y": 0.3}]},
         CLIP_SIZE, CLIP_S),
        ("annotate", {"clips": [{"start_time": 0.5, "end_time": 1.5, "name": "First touch"},
                                {"start_time": 2.0, "end_time": 3.5, "name": "The goal"}]},
         CLIP_SIZE, 2.5),
    ]


def show(export_type: str, progress: int, note: str) -> None:
    filled = BAR * progress // 100
    line = f"\r  {export_type:<9} [{'#' * filled}{'.' * (BAR - filled)}] {progress:3d}% {note[:40]:<40}"
    sys.stdout.write(line)
    sys.stdout.flush()


async def upload(http: httpx.AsyncClient, clip: Path) -> None:
    r = await http.post("/api/storage/upload-url", json={"key": INPUT_KEY, "content_type": "video/mp4"})
    r.raise_for_status()
    info = r.json()
    async with httpx.AsyncClient(timeout=120) as raw:
        put = await raw.put(info["url"], content=await asyncio.to_thread(clip.read_bytes), headers=info["headers"])
        put.raise_for_status()


async def run_export(client: WorkersClient, http: httpx.AsyncClient, export_type: str, params: dict,
                     size: tuple[int, int], duration: float, out_dir: Path) -> list[str]:
    """Start, watch, download and check one export; the problems found (none when it is right)."""
    started = await client.start_export(export_type, project_id=1, input_key=INPUT_KEY, params=params)
    t0, progress, last = time.monotonic(), 0, None
    async for event in client.watch(started["job_id"]):
        last = event
        progress = max(progress, int(event.get("progress") or 0))
        show(export_type, 100 if event["type"] == "complete" else progress, event.get("message") or event["type"])
    print(f"  {time.monotonic() - t0:.1f} s")
    if last is None or last["type"] != "complete":
        return [f"{export_type}: ended {last and last['type']}: {last and last.get('error')}"]
    link = (await http.get(last["output_url"])).json()["url"]  # output_url is the presigned-url route
    async with httpx.AsyncClient(timeout=120) as raw:
        video = await raw.get(link)
        video.raise_for_status()
    path = out_dir / f"{export_type}.mp4"
    await asyncio.to_thread(path.write_bytes, video.content)
    got = await asyncio.to_thread(probe, str(path))
    problems = []
    if (got.width, got.height) != size:
        problems.append(f"{export_type}: {got.width}x{got.height}, expected {size[0]}x{size[1]}")
    if abs(got.duration - duration) > 0.25:
        problems.append(f"{export_type}: {got.duration:.2f} s, expected {duration:.2f} s")
    verdict = "; ".join(problems) or "ok"
    print(f"  -> {path} ({len(video.content) // 1024} KiB, {got.width}x{got.height}, {got.duration:.2f} s): {verdict}")
    return problems


async def demo(base_url: str, api_key: str, out_dir: Path) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=60,
                                 headers={"X-API-Key": api_key, "X-User-Id": USER}) as http:
        try:
            (await http.get("/health")).raise_for_status()
        except httpx.HTTPError:
            print(f"nothing answers at {base_url}: start `scripts/dev` first (PORT={os.environ.get('PORT', '8787')})",
                  file=sys.stderr)
            return 2
        clip = out_dir / "clip.mp4"
        await asyncio.to_thread(make_clip, clip)
        print(f"test clip: {clip} ({CLIP_SIZE[0]}x{CLIP_SIZE[1]}, {CLIP_S:.0f} s, {CLIP_FPS} fps)")
        await upload(http, clip)
        print(f"uploaded as {INPUT_KEY} for user {USER}")
        problems: list[str] = []
        async with WorkersClient(base_url, api_key, USER) as client:
            for export_type, params, size, duration in exports():
                try:
                    problems += await run_export(client, http, export_type, params, size, duration, out_dir)
                except ApiError as exc:
                    problems.append(f"{export_type}: {exc}")
                    print(f"\n  {exc}")
    print("all three exports rendered and checked" if not problems else "FAILED:\n  " + "\n  ".join(problems))
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8787')}")
    parser.add_argument("--out", type=Path, help="keep the clip and the exports here (default: a temporary folder)")
    args = parser.parse_args()
    api_key = os.environ.get("DEMO_API_KEY") or worker_values(REPO).get("API_KEYS", "").split(",")[0].strip()
    if not api_key:
        print("no API key: run scripts/dev once (it writes .dev.vars) or set DEMO_API_KEY", file=sys.stderr)
        return 2
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        return asyncio.run(demo(args.base_url, api_key, args.out))
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(demo(args.base_url, api_key, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
