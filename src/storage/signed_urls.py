"""Worker-signed object URLs: `/api/storage/object/{key}?exp=&sig=`, the local (no R2 S3 keys) mode.

The URL is a capability for one method on one full R2 key until `exp` (unix seconds):
sig = hex(HMAC-SHA256(URL_SIGNING_SECRET, "{METHOD}\n{key}\n{exp}")). A GET signature also
allows HEAD; it never allows PUT.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from auth.compare import equal
from bounds import read_decimal

OBJECT_PATH = "/api/storage/object/"


def _signature(secret: str, method: str, key: str, exp: int) -> str:
    return hmac.new(secret.encode(), f"{method}\n{key}\n{exp}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, base_url: str, key: str, method: str, exp: int) -> str:
    method = method.upper()
    query = urlencode({"exp": exp, "sig": _signature(secret, method, key, exp)})
    return f"{base_url.rstrip('/')}{OBJECT_PATH}{quote(key, safe='/~')}?{query}"


def verify(secret: str, key: str, method: str, exp: object, sig: object, now: float) -> bool:
    """True when `sig` signs (method, key, exp) and `exp` has not passed."""
    expires = read_decimal(exp)  # no credential is needed to get here: never int() an unbounded string
    if expires is None or not isinstance(sig, str):
        return False
    method = "GET" if method.upper() == "HEAD" else method.upper()
    return expires >= now and equal(_signature(secret, method, key, expires), sig.lower())
