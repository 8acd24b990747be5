"""Signed callback URLs: RunPod may only report on the one job whose URL it was given.

`/api/runpod/callback/{job_id}?u=<user_id>&sig=<hex HMAC-SHA256(CALLBACK_SECRET, "<user_id>/<job_id>")>`.
`u` says which user's object keeps the job (jobs live with their user); it is signed with the id, so
a URL cannot be pointed at another user's object. The signature does not expire: a job's callbacks
can arrive hours later, and the job's terminal state already makes late ones harmless.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from auth.compare import equal

CALLBACK_PATH = "/api/runpod/callback/{job_id}"


def sign(secret: str, job_id: str, user_id: str) -> str:
    return hmac.new(secret.encode(), f"{user_id}/{job_id}".encode(), hashlib.sha256).hexdigest()


def verify(secret: str, job_id: str, user_id: str | None, sig: str | None) -> bool:
    return bool(sig) and user_id is not None and equal(sign(secret, job_id, user_id), str(sig).lower())


def callback_url(base_url: str, job_id: str, user_id: str, secret: str) -> str:
    path = CALLBACK_PATH.format(job_id=quote(job_id, safe=""))
    return f"{base_url.rstrip('/')}{path}?{urlencode({'u': user_id, 'sig': sign(secret, job_id, user_id)})}"
