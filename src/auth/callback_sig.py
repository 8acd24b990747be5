"""Signed callback URLs: RunPod may only report on the one job whose URL it was given.

sig = hex(HMAC-SHA256(CALLBACK_SECRET, job_id)). The signature does not expire: a job's callbacks
can arrive hours later, and the job's terminal state already makes late ones harmless.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from auth.compare import equal

CALLBACK_PATH = "/api/runpod/callback/{job_id}"


def sign(secret: str, job_id: str) -> str:
    return hmac.new(secret.encode(), job_id.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, job_id: str, sig: str | None) -> bool:
    return bool(sig) and equal(sign(secret, job_id), str(sig).lower())


def callback_url(base_url: str, job_id: str, secret: str) -> str:
    path = CALLBACK_PATH.format(job_id=quote(job_id, safe=""))
    return f"{base_url.rstrip('/')}{path}?sig={sign(secret, job_id)}"
