"""GPU-side code (never deployed with the Worker): the RunPod handler that renders exports with ffmpeg
(`handler.py`, `render/`, `ffmpeg_run.py`, `transfer.py`) and a local RunPod-compatible endpoint that
runs it for development (`local_endpoint.py`, `job_process.py`)."""
