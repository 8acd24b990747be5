"""Constant-time comparison of credentials."""

from __future__ import annotations

import hashlib
import hmac


def equal(a: str, b: str) -> bool:
    """True when a == b, in time that does not depend on where they differ or on their lengths."""
    return hmac.compare_digest(hashlib.sha256(a.encode()).digest(), hashlib.sha256(b.encode()).digest())


def matches_any(candidate: str, secrets: list[str]) -> bool:
    """Compare against every secret without stopping early, so timing does not tell which matched."""
    found = False
    for secret in secrets:
        found |= equal(candidate, secret)
    return found
