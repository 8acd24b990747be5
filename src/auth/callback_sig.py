"""Signed callback URLs: RunPod may only report on the one job whose URL it was given.

`/api/runpod/callback/{job_id}?u=<user_id>&sig=<hex HMAC-SHA256(CALLBACK_SECRET, "<user_id>/<job_id>")>`,
and from a job's second attempt on (jobs/attempts.py) `&a=<n>`, signed as `"<user_id>/<job_id>/<n>"`.
`u` says which user's object keeps the job (jobs live with their user); it is signed with the id, so
a URL cannot be pointed at another user's object. `a` says which attempt reports, so a late report
of an earlier attempt never moves the current one; the first attempt's URL has none (the URLs of jobs
started before attempts existed stay valid). The signature does not expire: a job's callbacks
can arrive hours later, and the job's terminal state already makes late ones harmless.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from auth.compare import equal

CALLBACK_PATH = "/api/runpod/callback/{job_id}"


def sign(secret: str, job_id: str, user_id: str, attempt: int = 1) -> str:
    signed = f"{user_id}/{job_id}" if attempt == 1 else f"{user_id}/{job_id}/{attempt}"
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, job_id: str, user_id: str | None, sig: str | None, attempt: int = 1) -> bool:
    return bool(sig) and user_id is not None and equal(sign(secret, job_id, user_id, attempt), str(sig).lower())


def callback_url(base_url: str, job_id: str, user_id: str, secret: str, attempt: int = 1) -> str:
    path = CALLBACK_PATH.format(job_id=quote(job_id, safe=""))
    query = {"u": user_id, **({"a": str(attempt)} if attempt != 1 else {}), "sig": sign(secret, job_id, user_id, attempt)}
    return f"{base_url.rstrip('/')}{path}?{urlencode(query)}"
