"""The RunPod handler end to end on generated clips: real ffmpeg, a local server as storage and Worker."""

from __future__ import annotations

import logging
import statistics

import pytest

from gpu_worker.ffmpeg_run import probe
from gpu_worker.handler import handler
from tests.gpu_worker.media import count_frames, frames_rgb, make_clip, pixel

SECRET = "sig=0123456789abcdef"
# A 320x180 frame whose red says the column and green the row: a crop shows where it was taken.
GRADIENT = "color=black:s={w}x{h}:r={fps}:d={d},format=rgb24,geq=r='X*255/W':g='Y*255/H':b=0"
CHECKER = "color=black:s={w}x{h}:r={fps}:d={d},format=gray,geq=lum='255*mod(floor(X/4)+floor(Y/4),2)'"


def job(storage, kind, params, name="in.mp4"):
    return {"id": "rp-test", "input": {
        "job_id": "job1", "type": kind, "params": params, "output_key": f"final_videos/{kind}_job1.mp4",
        "input_url": storage.url(f"/{name}?{SECRET}"), "output_url": storage.url(f"/out.mp4?{SECRET}"),
        "output_headers": {"Content-Type": "video/mp4"}, "callback_url": storage.url(f"/callback/job1?{SECRET}")}}


def run(storage, tmp_path, kind, params, source="testsrc2", audio=False, **clip):
    storage.objects["/in.mp4"] = open(make_clip(tmp_path / "in.mp4", source=source, audio=audio, **clip), "rb").read()
    result = handler(job(storage, kind, params))
    assert result == {"status": "complete", "output_key": f"final_videos/{kind}_job1.mp4"}, result
    headers, body = storage.puts["/out.mp4"]
    assert headers["Content-Type"] == "video/mp4"
    out = tmp_path / "out.mp4"
    out.write_bytes(body)
    return out


def reports(storage):
    return [c["body"] for c in storage.callbacks]


def assert_progress_then_complete(storage):
    bodies = reports(storage)
    assert bodies[-1]["status"] == "complete"
    progress = [b["progress"] for b in bodies[:-1]]
    assert all(b["status"] == "progress" for b in bodies[:-1]) and len(progress) >= 3
    assert progress == sorted(set(progress)), progress  # strictly increasing
    assert 0 <= progress[0] and progress[-1] < 100
    assert all(c["path"] == f"/callback/job1?{SECRET}" for c in storage.callbacks)


def test_framing_pans_and_scales_between_frame_keyframes(storage, tmp_path):
    params = {"crop_keyframes": [{"frame": 0, "x": 0, "y": 0, "width": 0.25, "height": 0.5},
                                 {"frame": 29, "x": 0.75, "y": 0.5, "width": 0.25, "height": 0.5}],
              "output_width": 80, "output_height": 90}
    out = run(storage, tmp_path, "framing", params, source=GRADIENT)
    info = probe(str(out))
    assert (info.width, info.height) == (80, 90) and abs(info.duration - 2.0) < 0.1
    assert count_frames(out)[0] == 30
    frames = frames_rgb(out, [0, 10, 20, 29], 80, 90)
    for k, frame in frames.items():
        left_px, top_px = 240 * k / 29, 90 * k / 29  # the window's top-left corner in source pixels
        r, g, _ = pixel(frame, 80, 2, 2)
        assert abs(r - (left_px + 2) * 255 / 320) < 5, (k, r)
        assert abs(g - (top_px + 2) * 255 / 180) < 6, (k, g)
    assert_progress_then_complete(storage)


def test_framing_zooms_between_time_keyframes_and_keeps_audio(storage, tmp_path):
    params = {"crop_keyframes": [{"time": 0, "x": 0, "y": 0, "width": 1, "height": 1},
                                 {"time": 1.0, "x": 0.5, "y": 0.5, "width": 0.5, "height": 0.5}],
              "output_width": 160, "output_height": 90, "fps": 10}
    out = run(storage, tmp_path, "framing", params, source=GRADIENT, audio=True)
    info = probe(str(out))
    assert (info.width, info.height, info.fps) == (160, 90, 10) and info.has_audio
    assert count_frames(out)[0] == 20
    frames = frames_rgb(out, [0, 5, 15], 160, 90)
    # Frame 0: the whole source; from t = 1 s on: its bottom-right quarter; in between, on the way.
    assert pixel(frames[0], 160, 1, 1)[0] < 8 and pixel(frames[0], 160, 158, 1)[0] > 245
    r_mid = pixel(frames[5], 160, 1, 1)[0]  # t = 0.5 s: x = 0.25 of the width
    assert abs(r_mid - 0.25 * 255) < 8, r_mid
    r, g, _ = pixel(frames[15], 160, 1, 1)
    assert abs(r - 128) < 8 and abs(g - 128) < 8 and pixel(frames[15], 160, 158, 88)[0] > 245


def _region_stats(frame, width, box):
    x0, y0, x1, y1 = box
    values = [sum(pixel(frame, width, x, y)) / 3 for y in range(y0, y1) for x in range(x0, x1)]
    return statistics.mean(values), statistics.pstdev(values)


# The ellipse: centre (160, 90), radii 64 x 54 px in a 320x180 frame; frames 5 to 20 inclusive.
REGION = {"start_frame": 5, "end_frame": 20, "x": 0.5, "y": 0.5, "radius_x": 0.2, "radius_y": 0.3}
INSIDE, OUTSIDE = (140, 70, 180, 110), (8, 8, 72, 48)


@pytest.mark.parametrize("effect", ["dim", "brighten", "blur", "outline", "spotlight", "none"])
def test_overlay_effect_is_where_and_when_the_region_says(storage, tmp_path, effect):
    region = {**REGION, "color": "#FF0000"}
    out = run(storage, tmp_path, "overlay", {"highlight_regions": [region], "effect_type": effect}, source=CHECKER)
    info = probe(str(out))
    assert (info.width, info.height) == (320, 180) and count_frames(out)[0] == 30
    frames = frames_rgb(out, [4, 5, 12, 20, 21], 320, 180)
    for k in (4, 21):  # outside the region's frames: the checkerboard as it was
        mean, spread = _region_stats(frames[k], 320, OUTSIDE)
        assert 110 < mean < 145 and spread > 100, (k, mean, spread)
    for k in (5, 12, 20):
        inside, inside_spread = _region_stats(frames[k], 320, INSIDE)
        outside, outside_spread = _region_stats(frames[k], 320, OUTSIDE)
        assert 110 < inside < 145 and inside_spread > 100, (k, inside)  # the ellipse is never touched
        if effect in ("dim", "spotlight"):
            assert outside < 0.5 * inside, (k, outside)
        elif effect == "brighten":
            assert outside > 175, (k, outside)
        elif effect == "blur":
            assert outside_spread < 0.4 * inside_spread and 100 < outside < 155, (k, outside_spread)
        else:  # outline, none: the surroundings as they were
            assert 110 < outside < 145 and outside_spread > 100, (k, outside)
        ring = pixel(frames[k], 320, 160 + 64, 90)  # where the ellipse meets its horizontal axis
        if effect in ("outline", "spotlight"):  # a 2 px red ring, its colour halved by 4:2:0 chroma
            assert ring[0] - max(ring[1], ring[2]) > 40, (k, ring)


def test_annotate_cuts_joins_and_burns_names(storage, tmp_path):
    params = {"clips": [{"start_time": 0.2, "end_time": 0.9, "name": "Goal! 100% {pts} 'quoted' : é"},
                        {"start_time": 1.2, "end_time": 1.9}]}
    out = run(storage, tmp_path, "annotate", params, source="color=c=0x2040c0:s={w}x{h}:r={fps}:d={d}",
              audio=True)
    info = probe(str(out))
    frames_count, seconds = count_frames(out)
    assert (info.width, info.height) == (320, 180) and info.has_audio
    assert frames_count == 22 and abs(seconds - 1.4) < 0.1, (frames_count, seconds)
    frames = frames_rgb(out, [2, 16], 320, 180)

    def white_pixels(frame):  # the name is white on a dark box in the bottom band
        return sum(1 for y in range(120, 180) for x in range(0, 320) if min(pixel(frame, 320, x, y)) > 200)

    assert white_pixels(frames[2]) > 100  # the first clip has a name
    assert white_pixels(frames[16]) == 0  # the second has none
    assert_progress_then_complete(storage)


def _error_of(storage, result, retryable=False):
    assert set(result) == {"error"}, result
    bodies = reports(storage)
    assert bodies[-1] == {"status": "error", "error": result["error"], "retryable": retryable}
    assert "/out.mp4" not in storage.puts
    assert SECRET not in result["error"] and "sig=" not in result["error"]
    return result["error"]


@pytest.mark.parametrize(("kind", "params", "expected"), [
    ("framing", {"crop_keyframes": [{"frame": 0, "x": 0.8, "y": 0, "width": 0.5, "height": 1}]}, "outside the frame"),
    ("framing", {"crop_keyframes": [{"time": 0, "x": 1.5, "y": 0, "width": 0.1, "height": 1}]}, "outside the frame"),
    ("framing", {"crop_keyframes": []}, "at least one crop keyframe"),
    ("annotate", {"clips": []}, "at least one clip"),
    ("annotate", {"clips": [{"start_time": 5, "end_time": 6}]}, "after the video's end"),
    ("overlay", {"highlight_regions": [{**REGION, "start_frame": 100, "end_frame": 120}], "effect_type": "dim"},
     "after the video's last frame"),
    ("overlay", {"highlight_regions": [], "effect_type": "sparkle"}, "effect_type must be one of"),
])
def test_bad_params_end_in_an_error_report(storage, tmp_path, kind, params, expected):
    storage.objects["/in.mp4"] = open(make_clip(tmp_path / "in.mp4"), "rb").read()
    message = _error_of(storage, handler(job(storage, kind, params)))
    assert expected in message, message


def test_unreadable_or_missing_input_ends_in_an_error_report(storage, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    storage.objects["/junk.mp4"] = b"this is not a video" * 100
    message = _error_of(storage, handler(job(storage, "overlay", {"highlight_regions": [], "effect_type": "dim"},
                                             name="junk.mp4")))
    assert "not a readable video" in message
    storage.callbacks.clear()
    message = _error_of(storage, handler(job(storage, "overlay", {"highlight_regions": [], "effect_type": "dim"},
                                             name="missing.mp4")))
    assert message == "downloading the input failed: HTTP 404"
    assert "sig=" not in caplog.text and "127.0.0.1" not in caplog.text


def test_a_render_over_its_time_limit_is_stopped_and_reported(storage, tmp_path, monkeypatch):
    monkeypatch.setenv("GPU_RENDER_REALTIME", "1")  # 2 s of video take 2 s to read
    monkeypatch.setenv("RENDER_TIMEOUT_S", "0.5")
    storage.objects["/in.mp4"] = open(make_clip(tmp_path / "in.mp4"), "rb").read()
    params = {"crop_keyframes": [{"frame": 0, "x": 0, "y": 0, "width": 0.5, "height": 1}], "output_width": 90,
              "output_height": 160}
    message = _error_of(storage, handler(job(storage, "framing", params)))
    assert message == "ffmpeg took over 0.5 s", message


@pytest.mark.parametrize(("kind", "params"), [
    ("overlay", {"highlight_regions": [REGION], "effect_type": "blur"}),
    ("annotate", {"clips": [{"start_time": 0, "end_time": 1, "name": "odd"}]}),
])
def test_odd_sized_sources_come_out_even(storage, tmp_path, kind, params):
    out = run(storage, tmp_path, kind, params, width=321, height=181)
    info = probe(str(out))
    assert (info.width, info.height) == (320, 180)


def test_an_internal_error_is_reported_as_worth_another_attempt(storage, monkeypatch):
    # Bad input is never retryable; a fault of the worker itself is (the Worker may run the job again).
    def broken(*_args):
        raise KeyError("a bug")

    monkeypatch.setattr("gpu_worker.handler.run_job", broken)
    message = _error_of(storage, handler(job(storage, "overlay", {"highlight_regions": [], "effect_type": "dim"})),
                        retryable=True)
    assert message == "internal error in the GPU worker (KeyError)"
