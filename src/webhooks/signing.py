"""Signing webhook deliveries per the Standard Webhooks spec (https://www.standardwebhooks.com/).

Each delivery carries `webhook-id` (the message's id, the same on every retry of it),
`webhook-timestamp` (integer seconds of this attempt) and `webhook-signature: v1,<base64>` where the
signature is HMAC-SHA256, keyed with the secret's bytes, over `"{id}.{timestamp}.{body}"`. A secret
is written `whsec_<base64 of 24–64 random bytes>`; the bytes after decoding are the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


class InvalidSecret(ValueError):
    """The configured secret is not a `whsec_` base64 key of 24–64 bytes (the value is never shown)."""


def key_of(secret: str) -> bytes:
    """The HMAC key a `whsec_...` secret stands for."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"a webhook secret starts with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("a webhook secret is base64 after its prefix") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise InvalidSecret(f"a webhook secret holds {MIN_KEY_BYTES}-{MAX_KEY_BYTES} bytes")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256>`."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(key: bytes, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """Every header of one delivery attempt."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(key, msg_id, timestamp, body), "Content-Type": "application/json"}
