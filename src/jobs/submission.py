"""What a job's RunPod submission carries: the `input` the GPU worker reads, and the webhook."""

from __future__ import annotations

import json

from auth import callback_sig
from jobs.model import JobRecord
from settings import Settings
from storage import keys, urls

URL_GRACE_S = 3600  # presigned URLs outlive the job timeout by this much


def runpod_input(job: JobRecord, settings: Settings, now: float) -> tuple[dict, str]:
    """The `input` for `POST /run` and the signed callback URL (also RunPod's webhook).

    The GPU worker needs no storage credentials: it reads `input_url` and PUTs to `output_url`.
    """
    ttl = min(urls.MAX_EXPIRES_S, settings.job_timeout_s + URL_GRACE_S)
    input_url, _ = urls.object_url(settings, job.base_url, keys.user_key(job.user_id, job.input_key), "GET", ttl, now)
    output_url, _ = urls.object_url(settings, job.base_url, keys.user_key(job.user_id, job.output_key), "PUT", ttl,
                                    now, content_type="video/mp4")
    callback_url = callback_sig.callback_url(job.base_url, job.job_id, job.user_id, settings.secret("CALLBACK_SECRET"))
    payload = {"job_id": job.job_id, "user_id": job.user_id, "type": job.type, "input_key": job.input_key,
               "output_key": job.output_key, "params": json.loads(job.params_json),
               "callback_url": callback_url, "input_url": input_url, "output_url": output_url,
               # SigV4 signs the content type: the GPU worker's PUT must send exactly this.
               "output_headers": {"Content-Type": "video/mp4"}}
    return payload, callback_url
