"""Worker-signed object URLs: `/api/storage/object/{key}?exp=&sig=`, the local (no R2 S3 keys) mode.

The URL is a capability for one method on one full R2 key until `exp` (unix seconds):
sig = hex(HMAC-SHA256(URL_SIGNING_SECRET, "{METHOD}\n{key}\n{exp}")). A PUT URL is also bound to
the content type it was issued for, as SigV4 binds it by signing the header: it carries `ct=` and
the signed string gains "\n{ct}", so the upload cannot be stored as another type (a page, say).
A GET signature also allows HEAD; it never allows PUT.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from auth.compare import equal
from bounds import read_decimal

OBJECT_PATH = "/api/storage/object/"


def _signature(secret: str, method: str, key: str, exp: int, content_type: str | None) -> str:
    message = f"{method}\n{key}\n{exp}" + (f"\n{content_type}" if method == "PUT" else "")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, base_url: str, key: str, method: str, exp: int, content_type: str | None = None) -> str:
    """A URL allowing `method` on `key` until `exp`; a PUT URL needs the `content_type` it binds."""
    method = method.upper()
    if (method == "PUT") != (content_type is not None):
        raise ValueError("a PUT URL is bound to a content type, and only a PUT URL is")
    query = {"exp": exp, **({"ct": content_type} if content_type is not None else {}),
             "sig": _signature(secret, method, key, exp, content_type)}
    return f"{base_url.rstrip('/')}{OBJECT_PATH}{quote(key, safe='/~')}?{urlencode(query)}"


def verify(secret: str, key: str, method: str, exp: object, sig: object, now: float,
           content_type: object = None) -> bool:
    """True when `sig` signs (method, key, exp[, content_type for a PUT]) and `exp` has not passed."""
    expires = read_decimal(exp)  # no credential is needed to get here: never int() an unbounded string
    if expires is None or not isinstance(sig, str):
        return False
    method = "GET" if method.upper() == "HEAD" else method.upper()
    if method == "PUT" and not isinstance(content_type, str):
        return False
    bound = content_type if method == "PUT" else None
    return expires >= now and equal(_signature(secret, method, key, expires, bound), sig.lower())
