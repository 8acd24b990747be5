"""The GPU worker's pure pieces: probe parsing, progress lines, filter graphs, layers, redaction, reports."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gpu_worker.ffmpeg_run import InputError, Probe, frame_rate, parse_probe, parse_progress
from gpu_worker.render import annotate, framing, overlay
from gpu_worker.transfer import Reporter, redact

SRC = Probe(width=320, height=180, fps=Fraction(15), duration=2.0, has_audio=False)

PROBE_TEXT = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '/tmp/rb-gpu-x/input':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 4406 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 4270 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)
      Side data:
        displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s (default)
At least one output file must be specified
"""


def test_probe_reads_size_rate_duration_audio_and_rotation():
    info = parse_probe(PROBE_TEXT)
    # A phone video held upright: ffmpeg turns the frames, so width and height swap.
    assert (info.width, info.height) == (1080, 1920)
    assert info.fps == Fraction(30000, 1001) and info.duration == 62.5 and info.has_audio
    assert info.frames == round(62.5 * 30000 / 1001)
    plain = parse_probe(PROBE_TEXT.replace("rotation of -90.00", "rotation of -0.00").replace(
        "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s (default)\n", ""))
    assert (plain.width, plain.height, plain.has_audio) == (1920, 1080, False)


def test_probe_refuses_what_is_not_a_video():
    with pytest.raises(InputError, match="not a readable video") as err:
        parse_probe("[in#0 @ 0x55] Error opening input: Invalid data found when processing input\n"
                    "Error opening input file /tmp/rb-gpu-job/input.\n")
    assert "/tmp" not in str(err.value)  # local paths are not the user's business
    with pytest.raises(InputError):
        parse_probe("Input #0, mp3, from 'x':\n  Duration: 00:00:05.00\n  Stream #0:0: Audio: mp3, 44100 Hz\n")


@pytest.mark.parametrize(("text", "rate"), [("29.97", Fraction(30000, 1001)), ("30", Fraction(30)),
                                            ("59.94", Fraction(60000, 1001)), ("23.98", Fraction(24000, 1001)),
                                            ("25", Fraction(25)), ("12.5", Fraction(25, 2))])
def test_frame_rates_as_meant(text, rate):
    assert frame_rate(text) == rate


def test_progress_lines():
    assert parse_progress("out_time_us=1500000") == 1.5
    assert parse_progress("out_time_ms=250000") == 0.25  # ffmpeg's "ms" is microseconds too
    assert parse_progress("out_time_us=N/A") is None and parse_progress("progress=end") is None
    assert parse_progress("out_time_us=-23220") == 0.0


def kf(**kw):
    return {"x": 0, "y": 0, "width": 0.5, "height": 0.5, **kw}


def test_keyframes_in_time_order_with_frames_at_the_source_rate():
    kfs = framing.keyframes({"crop_keyframes": [kf(frame=30, x=0.5), kf(time=0.5, y=0.25)]}, SRC)
    assert [(k.time, k.x, k.y) for k in kfs] == [(0.5, 0, 0.25), (2.0, 0.5, 0)]


@pytest.mark.parametrize(("keyframes", "message"), [
    ([], "at least one crop keyframe"),
    ([kf()], "exactly one of frame or time"),
    ([kf(frame=0, time=1)], "exactly one of frame or time"),
    ([kf(frame=0, x=0.6)], "outside the frame"),
    ([kf(frame=0, y=0.75)], "outside the frame"),
    ([kf(frame=0, width=0)], "outside the frame"),
    ([kf(frame=0, x=-0.2)], "outside the frame"),
    ([kf(frame=0, x=True)], "must be a number"),
    ([kf(time=-1)], "before the start"),
])
def test_bad_keyframes_say_what_is_wrong(keyframes, message):
    with pytest.raises(InputError, match=message):
        framing.keyframes({"crop_keyframes": keyframes}, SRC)


def test_window_is_linear_between_keyframes_and_held_outside():
    kfs = framing.keyframes({"crop_keyframes": [kf(time=0.5, x=0), kf(time=1.5, x=0.5, width=0.25)]}, SRC)
    assert framing.window_at(kfs, 0.0) == (0, 0, 0.5, 0.5)
    assert framing.window_at(kfs, 1.0) == pytest.approx((0.25, 0, 0.375, 0.5))
    assert framing.window_at(kfs, 9.0) == (0.5, 0, 0.25, 0.5)


def test_crop_commands_move_the_window_half_a_frame_ahead_of_each_frame():
    kfs = framing.keyframes({"crop_keyframes": [kf(frame=0), kf(frame=2, x=0.5)]}, SRC)
    first, script = framing.crop_commands(kfs, SRC)
    assert first == (160, 90, 0, 0)  # w, h, x, y in source pixels
    lines = script.splitlines()
    assert lines == ["0.033333 crop w 160, crop h 90, crop x 80, crop y 0;",  # frame 1, at 1/15 s
                     "0.100000 crop w 160, crop h 90, crop x 160, crop y 0;"]  # frame 2; held after: no more lines
    assert framing.crop_commands(framing.keyframes({"crop_keyframes": [kf(frame=0)]}, SRC), SRC)[1] == ""


def test_output_size_defaults_to_9_16_and_is_even():
    assert framing.output_size({}) == (1080, 1920)
    assert framing.output_size({"output_width": 720}) == (720, 1280)
    assert framing.output_size({"output_height": 640}) == (360, 640)
    assert framing.output_size({"output_width": 101, "output_height": 99}) == (100, 100)
    with pytest.raises(InputError):
        framing.output_size({"output_width": 8})


def test_framing_graph():
    graph = framing.filter_graph(SRC, (160, 90, 0, 0), "/tmp/rb-gpu-j/crop.cmd", (1080, 1920), Fraction(30))
    assert graph == ("[0:v]fps=15,sendcmd=f='/tmp/rb-gpu-j/crop.cmd',crop=w=160:h=90:x=0:y=0:exact=1,"
                     "scale=1080:1920:flags=bicubic,setsar=1,fps=30,format=yuv420p[v]")
    assert "sendcmd" not in framing.filter_graph(SRC, (160, 90, 0, 0), None, (90, 160), None)
    with pytest.raises(RuntimeError):
        framing.filter_graph(SRC, (160, 90, 0, 0), "/tmp/a:b'c", (90, 160), None)


def region(**kw):
    return {"start_frame": 0, "end_frame": 29, "x": 0.5, "y": 0.5, "radius_x": 0.25, "radius_y": 0.25, **kw}


def alpha(layer_bytes, size, x, y):
    return layer_bytes[(y * size[0] + x) * 4 + 3]


def test_regions_checked_and_defaults_applied():
    effect, regs = overlay.regions({"effect_type": "dim", "highlight_regions": [region(end_frame=500, color="#ff000080")]},
                                   SRC)
    assert effect == "dim" and regs[0].end == 29 and regs[0].color == (255, 0, 0)
    assert regs[0].opacity == pytest.approx(0.6 * 128 / 255)
    for bad, message in ((region(start_frame=30, end_frame=40), "after the video's last frame"),
                         (region(start_frame=5, end_frame=4), "before it starts"),
                         (region(radius_x=0), "outside the frame"), (region(x=1.2), "outside the frame"),
                         (region(color="red"), "#RRGGBB"), (region(opacity=2), "opacity")):
        with pytest.raises(InputError, match=message):
            overlay.regions({"effect_type": "dim", "highlight_regions": [bad]}, SRC)


def test_layer_clears_the_ellipses_and_covers_the_rest():
    _, regs = overlay.regions({"effect_type": "dim", "highlight_regions": [
        region(end_frame=9, x=0.25), region(start_frame=5, end_frame=20, x=0.75, opacity=1)]}, SRC)
    layer = overlay.Layer("dim", regs, SRC)
    assert layer.size == (320, 180)  # small frames are painted at full size
    full = round(255 * 0.6)
    only_first, both, none = layer.frame(0), layer.frame(7), layer.frame(25)
    assert alpha(only_first, layer.size, 80, 90) == 0 and alpha(only_first, layer.size, 240, 90) == full
    assert alpha(both, layer.size, 80, 90) == 0 and alpha(both, layer.size, 240, 90) == 0  # overlapping: both clear
    assert alpha(both, layer.size, 5, 5) == 255  # the strongest active opacity outside
    assert set(none[3::4]) == {0}  # no active region: nothing laid over the video
    assert layer.frame(1) is only_first  # same regions, same painted layer


def test_layer_is_small_for_big_frames_and_rings_take_the_colour():
    big = Probe(width=1080, height=1920, fps=Fraction(30), duration=1.0, has_audio=False)
    _, regs = overlay.regions({"effect_type": "outline", "highlight_regions": [region(color="#00FF00")]}, big)
    layer = overlay.Layer("outline", regs, big)
    assert layer.size == (270, 480)
    painted = layer.frame(0)
    cx, cy, rx = 135, 240, 0.25 * 270
    ring = (cy * 270 + round(cx + rx)) * 4
    assert painted[ring:ring + 4] == bytes((0, 255, 0, 255))
    assert alpha(painted, layer.size, cx, cy) == 0 and alpha(painted, layer.size, 5, 5) == 0


def test_overlay_graphs():
    assert overlay.filter_graph("none", SRC, None) == "[0:v]fps=15,setpts=N/(FRAME_RATE*TB),format=yuv420p[v]"
    dim = overlay.filter_graph("dim", SRC, (320, 180))
    assert "[1:v]scale=320:180" in dim and "overlay=format=auto:shortest=1" in dim
    blur = overlay.filter_graph("blur", SRC, (320, 180))
    assert "gblur" in blur and "alphaextract" in blur and "alphamerge" in blur
    assert overlay.layer_input_args((80, 45), SRC)[-2:] == ["-i", "pipe:0"]


def test_clips_checked_and_clamped():
    cuts = annotate.clips({"clips": [{"start_time": 0.5, "end_time": 9, "name": "  Goal  "},
                                     {"start_time": 0, "end_time": 1, "name": " "}]}, SRC)
    assert [(c.start, c.end, c.name) for c in cuts] == [(0.5, 2.0, "Goal"), (0, 1, None)]
    for bad, message in (([], "at least one clip"), ([{"start_time": 1, "end_time": 1}], "start_time < end_time"),
                         ([{"start_time": 2.5, "end_time": 3}], "after the video's end"),
                         ([{"start_time": 0, "end_time": 1, "name": 5}], "must be text")):
        with pytest.raises(InputError, match=message):
            annotate.clips({"clips": bad}, SRC)


def test_names_wrap_and_are_drawn_from_a_file_unexpanded():
    assert annotate.wrap_name("a b c d e f", 3) == "a b\nc d\ne f"
    long = annotate.wrap_name("word " * 40, 10)
    assert long.count("\n") == 2 and long.endswith("…")
    text = annotate.drawtext("/tmp/rb-gpu-j/name_0.txt", "/usr/share/fonts/x.ttf", SRC)
    assert "textfile='/tmp/rb-gpu-j/name_0.txt'" in text and "expansion=none" in text
    args = annotate.segment_args(annotate.Clip(0, 1.0, 1.5, "x"), "/tmp/in", "/tmp/n.txt", "/f.ttf", SRC, "/tmp/o.mp4")
    assert args[:2] == ["-ss", "1.000000"] and args[args.index("-t") + 1] == "0.500000"
    assert annotate.concat_list(["/tmp/a.mp4", "/tmp/b.mp4"]) == "file '/tmp/a.mp4'\nfile '/tmp/b.mp4'\n"


def test_redact_cuts_queries_and_credentials():
    text = "GET https://user:pw@r2.example/bucket/key.mp4?X-Amz-Signature=abc&sig=def failed; http://w/cb?sig=1"
    assert redact(text) == "GET https://r2.example/bucket/key.mp4 failed; http://w/cb"


def test_reporter_only_sends_progress_that_goes_up():
    seen = []
    reporter = Reporter(None, "j", seen.append)
    for value in (0, 0.4, 5, 5.9, 3, 50, 120):
        reporter.progress(value, "m")
    reporter.complete("final_videos/x.mp4")
    assert [b.get("progress") for b in seen] == [0, 5, 50, 99, None]
    assert seen[-1] == {"status": "complete", "output_key": "final_videos/x.mp4"}
    reporter.close()


def test_the_handler_imports_only_what_the_image_has():
    """The RunPod image installs gpu_worker/requirements.txt: no web server, and runpod only for __main__."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    code = ("import sys, gpu_worker.handler; "
            "print(sorted({'runpod', 'uvicorn', 'starlette', 'fastapi', 'pydantic'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         cwd=repo)
    assert out.stdout.strip() == "[]"
    requirements = (repo / "gpu_worker" / "requirements.txt").read_text()
    assert all(name in requirements for name in ("runpod", "httpx", "imageio-ffmpeg"))
