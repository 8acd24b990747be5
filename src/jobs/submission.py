"""What a job's RunPod submission carries: the `input` the GPU worker reads, and the webhook."""

from __future__ import annotations

import json

from auth import callback_sig
from jobs.deadlines import Limits
from jobs.model import JobRecord
from settings import Settings
from storage import keys, urls

_WEEK_MS = 7 * 24 * 3600 * 1000
RUNPOD_TTL_MS = (10_000, _WEEK_MS)  # RunPod's bounds of a job's policy
RUNPOD_EXECUTION_TIMEOUT_MS = (5_000, _WEEK_MS)
URL_GRACE_S = 3600  # presigned URLs outlive the job's deadlines by this much


def runpod_input(job: JobRecord, settings: Settings, now: float) -> tuple[dict, str, dict]:
    """The `input` for `POST /run`, the signed callback URL (also RunPod's webhook) and the `policy`.

    The GPU worker needs no storage credentials: it reads `input_url` and PUTs to `output_url`.
    RunPod's `ttl` counts from the submission and covers waiting and running alike, so it is the sum of
    the two deadlines (a `ttl` of the queue deadline alone would end a job that started late mid-run);
    the queue deadline itself is the watchdog's (jobs/deadlines.py).
    """
    queue_ttl_s, execution_timeout_s = Limits.of_settings(settings).of(job)
    # Within RunPod's bounds (it refuses the /run otherwise); deployment defaults below them (tests, demos)
    # are still enforced by the watchdog.
    policy = {"ttl": _within(RUNPOD_TTL_MS, (queue_ttl_s + execution_timeout_s) * 1000),
              "executionTimeout": _within(RUNPOD_EXECUTION_TIMEOUT_MS, execution_timeout_s * 1000)}
    ttl = min(urls.MAX_EXPIRES_S, queue_ttl_s + execution_timeout_s + URL_GRACE_S)
    input_url, _ = urls.object_url(settings, job.base_url, keys.user_key(job.user_id, job.input_key), "GET", ttl, now)
    output_url, _ = urls.object_url(settings, job.base_url, keys.user_key(job.user_id, job.output_key), "PUT", ttl,
                                    now, content_type="video/mp4")
    callback_url = callback_sig.callback_url(job.base_url, job.job_id, job.user_id, settings.secret("CALLBACK_SECRET"),
                                             job.attempt)
    payload = {"job_id": job.job_id, "user_id": job.user_id, "type": job.type, "input_key": job.input_key,
               "output_key": job.output_key, "params": json.loads(job.params_json),
               "callback_url": callback_url, "input_url": input_url, "output_url": output_url,
               # SigV4 signs the content type: the GPU worker's PUT must send exactly this.
               "output_headers": {"Content-Type": "video/mp4"}, "attempt": job.attempt}
    return payload, callback_url, policy


def _within(bounds: tuple[int, int], ms: int) -> int:
    return min(bounds[1], max(bounds[0], ms))
