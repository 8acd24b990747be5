"""Checking a webhook delivery from reel-ballers-api, as a receiver does (Standard Webhooks).

    event = verify_webhook(request.headers, await request.body(), secret)   # raises InvalidWebhook

`secret` is the service's `WEBHOOK_SECRET` (`whsec_...`). A delivery is accepted when one of its
`v1` signatures is HMAC-SHA256 over `"{webhook-id}.{webhook-timestamp}.{body}"` and its timestamp is
within `tolerance_s` of now (old ones are refused: a captured delivery cannot be replayed later).
Deduplicate on `webhook-id`: a delivery may arrive more than once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

TOLERANCE_S = 300


class InvalidWebhook(Exception):
    """The delivery is not one the service signed with this secret, or it is too old or too new."""


def verify_webhook(headers: Mapping[str, str], body: bytes | str, secret: str, *, tolerance_s: int = TOLERANCE_S,
                   now: float | None = None) -> dict[str, Any]:
    """The delivery's JSON body, once its signature and timestamp check out; InvalidWebhook otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (lowered.get(name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise InvalidWebhook("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise InvalidWebhook("webhook-timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        raise InvalidWebhook("webhook-timestamp is outside the tolerance: too old or too new")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhook("the secret is not a whsec_ base64 key") from None
    raw = body if isinstance(body, bytes) else body.encode()
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{sent_at}.".encode() + raw, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode("utf-8", "replace"), expected):
            try:
                return json.loads(raw)
            except ValueError:  # signed, yet not JSON: not a delivery of this service
                raise InvalidWebhook("the body is not JSON") from None
    raise InvalidWebhook("no signature matches")
