"""The RunPod handler: render one export job with ffmpeg.

`handler(job)` takes RunPod's job (`{"id", "input"}`, the input as the Worker sends it:
`type`, `params`, `input_url`, `output_url`, `output_headers`, `output_key`, `callback_url`, ...),
downloads the input, renders it, uploads the result and reports to `callback_url` all along:
`{"status": "progress", "progress", "message"}` (an integer that only goes up, from ffmpeg's own
`-progress` position), then `{"status": "complete", "output_key"}` or `{"status": "error", "error",
"retryable"}` (`retryable` only for its own internal errors: bad input is never worth another attempt).
It returns `{"status": "complete", "output_key"}`, or `{"error": "..."}`, which RunPod reports as FAILED.
Bad input (an unreadable video, a keyframe outside the frame, no clips) is an error report with a
sentence saying what is wrong, never a hang: every download, upload and ffmpeg run has a time limit.

On RunPod (gpu_worker/Dockerfile): `python -m gpu_worker.handler` serves the endpoint with the `runpod`
SDK, which only this entry point imports. Locally, gpu_worker/local_endpoint.py runs it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable

from gpu_worker import ffmpeg_run
from gpu_worker.ffmpeg_run import FfmpegError, InputError, Probe
from gpu_worker.render import annotate, framing, overlay
from gpu_worker.transfer import Reporter, TransferError, download, redact, upload

log = logging.getLogger("gpu_worker")

EXPORT_TYPES = ("framing", "overlay", "annotate")
# Where each stage's progress falls in 0-99 (100 is "complete").
DOWNLOAD, RENDER, UPLOAD = (0, 8), (8, 92), (92, 99)


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class _Stage:
    """Maps one stage's fraction done (0-1) onto its share of the job's progress."""

    def __init__(self, reporter: Reporter, span: tuple[int, int], message: str) -> None:
        self.reporter, self.span, self.message = reporter, span, message
        reporter.progress(span[0], message)

    def __call__(self, fraction: float) -> None:
        low, high = self.span
        self.reporter.progress(low + (high - low) * min(1.0, max(0.0, fraction)), self.message)


def _check_input(job_input: object) -> dict:
    if not isinstance(job_input, dict):
        raise InputError("the job's input must be an object")
    if job_input.get("type") not in EXPORT_TYPES:
        raise InputError(f"type must be one of {', '.join(EXPORT_TYPES)}")
    for name in ("input_url", "output_url"):
        if not isinstance(job_input.get(name), str) or not job_input[name].startswith(("http://", "https://")):
            raise InputError(f"{name} must be an http(s) URL")
    if not isinstance(job_input.get("params", {}), dict):
        raise InputError("params must be an object")
    headers = job_input.get("output_headers")
    if headers is not None and not isinstance(headers, dict):
        raise InputError("output_headers must be an object")
    return job_input


def render(kind: str, params: dict, src: Probe, source: str, output: str, workdir: str,
           report: Callable[[float], None]) -> None:
    """Render `source` to `output` (MP4) as export `kind` with `params`; `report` gets the fraction done."""
    timeout = ffmpeg_run.seconds_for(src.duration)
    audio = ["-map", "0:a:0"] if src.has_audio else []
    if kind == "framing":
        kfs = framing.keyframes(params, src)
        size, fps = framing.output_size(params), framing.output_fps(params)
        first, commands = framing.crop_commands(kfs, src)
        commands_path = None
        if commands:
            commands_path = os.path.join(workdir, "crop.cmd")
            with open(commands_path, "w") as f:
                f.write(commands)
        graph = framing.filter_graph(src, first, commands_path, size, fps)
        ffmpeg_run.run([*ffmpeg_run.input_args(), "-i", source, "-filter_complex", graph, "-map", "[v]", *audio,
                        *ffmpeg_run.encode_args(src.has_audio), output],
                       total_s=src.duration, on_progress=report, timeout_s=timeout)
    elif kind == "overlay":
        effect, regions = overlay.regions(params, src)
        layer = overlay.Layer(effect, regions, src)
        layer_args, frames = [], None
        if layer.needed:
            layer_args = overlay.layer_input_args(layer.size, src)
            frames = layer.frames(src.frames + int(src.fps) + 1)  # a second more than needed: ffmpeg stops
        graph = overlay.filter_graph(effect, src, layer.size if layer.needed else None)
        ffmpeg_run.run([*ffmpeg_run.input_args(), "-i", source, *layer_args, "-filter_complex", graph,
                        "-map", "[v]", *audio, *ffmpeg_run.encode_args(src.has_audio), output],
                       total_s=src.duration, on_progress=report, timeout_s=timeout, stdin_chunks=frames)
    else:
        _render_annotate(params, src, source, output, workdir, report)


def _render_annotate(params: dict, src: Probe, source: str, output: str, workdir: str,
                     report: Callable[[float], None]) -> None:
    cuts = annotate.clips(params, src)
    font = annotate.font_file() if any(c.name for c in cuts) else None
    _, per_line = annotate.text_layout(src)
    total = sum(c.duration for c in cuts)
    done, segments = 0.0, []
    for clip in cuts:
        textfile = None
        if clip.name:
            textfile = os.path.join(workdir, f"name_{clip.index}.txt")
            with open(textfile, "w", encoding="utf-8") as f:
                f.write(annotate.wrap_name(clip.name, per_line))
        segment = os.path.join(workdir, f"clip_{clip.index:05d}.mp4")

        def step(fraction: float, before: float = done, length: float = clip.duration) -> None:
            report(0.97 * (before + fraction * length) / total)

        ffmpeg_run.run(annotate.segment_args(clip, source, textfile, font, src, segment), total_s=clip.duration,
                       on_progress=step, timeout_s=ffmpeg_run.seconds_for(clip.duration))
        segments.append(segment)
        done += clip.duration
    list_path = os.path.join(workdir, "clips.txt")
    with open(list_path, "w") as f:
        f.write(annotate.concat_list(segments))
    ffmpeg_run.run(annotate.concat_args(list_path, output), total_s=total,
                   on_progress=lambda fraction: report(0.97 + 0.03 * fraction),
                   timeout_s=ffmpeg_run.seconds_for(total))


def run_job(job_input: dict, workdir: str, reporter: Reporter) -> str | None:
    """Download, render, upload; returns the output key to report. Raises on any failure."""
    job_input = _check_input(job_input)
    kind, params = job_input["type"], job_input.get("params") or {}
    source, output = os.path.join(workdir, "input"), os.path.join(workdir, "output.mp4")
    download(job_input["input_url"], source, deadline_s=_setting("DOWNLOAD_TIMEOUT_S", 900),
             max_bytes=int(_setting("MAX_INPUT_BYTES", 5 << 30)),
             on_progress=_Stage(reporter, DOWNLOAD, "downloading the input"))
    src = ffmpeg_run.probe(source)
    log.info("job %s: %s of a %dx%d %.2f fps %.1f s video", reporter.job_label, kind, src.width, src.height,
             float(src.fps), src.duration)
    render(kind, params, src, source, output, workdir, _Stage(reporter, RENDER, f"rendering {kind}"))
    upload(job_input["output_url"], output, job_input.get("output_headers") or {"Content-Type": "video/mp4"},
           deadline_s=_setting("UPLOAD_TIMEOUT_S", 900), on_progress=_Stage(reporter, UPLOAD, "uploading the output"))
    return job_input.get("output_key")


def _label(job: dict) -> str:
    """A name for logs: the Worker's job id, else RunPod's, restricted to harmless characters."""
    job_input = job.get("input") if isinstance(job.get("input"), dict) else {}
    raw = str(job_input.get("job_id") or job.get("id") or "job")
    return re.sub(r"[^A-Za-z0-9_-]", "", raw)[:64] or "job"


def handler(job: dict, on_progress: Callable[[dict], None] | None = None) -> dict:
    """RunPod's entry point. `on_progress` also gets every report (the local endpoint's status output)."""
    job_input = job.get("input")
    callback = job_input.get("callback_url") if isinstance(job_input, dict) else None
    label = _label(job)
    reporter = Reporter(callback if isinstance(callback, str) else None, label, on_progress)
    workdir = tempfile.mkdtemp(prefix=f"rb-gpu-{label}-")
    try:
        output_key = run_job(job_input, workdir, reporter)
        log.info("job %s complete", label)
        reporter.complete(output_key)
        return {"status": "complete", **({"output_key": output_key} if output_key else {})}
    except (InputError, FfmpegError, TransferError) as exc:
        message = redact(str(exc))
        log.warning("job %s failed: %s", label, message)
        reporter.error(message)
        return {"error": message}
    except Exception as exc:  # anything unforeseen still ends the job with an error report, not silence
        message = f"internal error in the GPU worker ({type(exc).__name__})"
        log.error("job %s failed: %s: %s", label, type(exc).__name__, redact(str(exc)))
        reporter.error(message, retryable=True)  # not the input's fault: the Worker may run it again
        return {"error": message}
    finally:
        reporter.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _serve_on_runpod() -> None:
    import runpod  # the SDK is only in the RunPod image (gpu_worker/requirements.txt)

    def serverless_handler(job: dict) -> dict:
        def progress(body: dict) -> None:
            if body.get("status") == "progress":  # what RunPod's /status shows while IN_PROGRESS
                runpod.serverless.progress_update(job, body)
        return handler(job, on_progress=progress)

    runpod.serverless.start({"handler": serverless_handler})


if __name__ == "__main__":
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    _serve_on_runpod()
