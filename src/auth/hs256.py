"""The HS256 JWT check shared by user tokens (auth.tokens) and queue tokens (auth.queue_tokens).

Each kind of token has its own secret and its own `screen`: a check of the claims that decides
what kind of token this is. The screen runs on the (not yet verified) claims before the signature
is checked, which is safe because it can only refuse. `exp` must be present; `exp`, and `iat`/`nbf`
when present, must be finite numbers of seconds since the epoch, and `exp` at most `max_ttl_s` ahead.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

import jwt

from bounds import MAX_CREDENTIAL_CHARS, is_finite_number, parse_json

LEEWAY_S = 30  # tolerate small clock skew between the backend that minted and this Worker

# Tokens this isolate verified, by (kind, secret, token): a client presents the same token on every
# request (a status poll, a page's calls), and the full check costs ~1 ms of a request's CPU in
# Pyodide. All the check depends on besides the token is the clock, so a verified token is kept with
# the window of `now` in which it passes (from its iat/nbf/exp bounds to its expiry); outside it, the
# full check runs again and says why it fails. Only successes are kept, at most _VERIFIED_MAX (oldest
# dropped first). The kind and the secret are both in the key: a token verified as one kind is never
# found by a lookup for another, even were two kinds' secrets equal. A lookup compares a presented
# token with a stored one only when their hashes match, i.e. only a caller who already holds that
# exact valid token gets that far.
_VERIFIED: dict[tuple[str, str, str], tuple[dict, float, float]] = {}
_VERIFIED_MAX = 1024


class InvalidToken(Exception):  # noqa: N818 - reads as what it is
    """The token is malformed, expired, wrongly signed, or not of the kind asked for."""


def encode(claims: dict, secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _segment_json(segment: str) -> object:
    """One JWT segment's JSON, read by the service's own JSON rules (PyJWT's json.loads accepts
    NaN, Infinity and any nesting depth)."""
    try:
        return parse_json(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):  # JsonRejected is a ValueError
        raise InvalidToken("token invalid") from None


def _time_claim(claims: dict, name: str, latest: float) -> float | None:
    """A time claim as a number of seconds in [0, latest]; None when absent."""
    value = claims.get(name)
    if value is None and name != "exp":
        return None
    if not is_finite_number(value) or not 0 <= value <= latest:
        raise InvalidToken(f"token has an invalid {name}")
    return value


def verified_claims(kind: str, secret: str, token: str, now: float, max_ttl_s: int,
                    screen: Callable[[dict], None]) -> dict:
    """The claims of a valid token of this kind; raises InvalidToken otherwise. Only HS256 is accepted.

    `screen(claims)` raises InvalidToken for claims that are not of this kind. The dict returned is
    the cached one: read it, do not change it.
    """
    if not isinstance(token, str) or len(token) > MAX_CREDENTIAL_CHARS or token.count(".") != 2:
        raise InvalidToken("token invalid")
    key = (kind, secret, token)
    known = _VERIFIED.get(key)
    if known is not None and known[1] <= now <= known[2]:
        return known[0]
    header, payload, _ = token.split(".")
    _segment_json(header)
    claims = _segment_json(payload)
    if not isinstance(claims, dict):
        raise InvalidToken("token invalid")
    screen(claims)
    try:
        # The time claims are checked below against `now`, so every check uses the same clock.
        jwt.decode(token, secret, algorithms=["HS256"],
                   options={"require": ["exp"], "verify_exp": False, "verify_iat": False,
                            "verify_nbf": False})
    except jwt.PyJWTError:
        raise InvalidToken("token invalid") from None
    exp = _time_claim(claims, "exp", now + max_ttl_s + LEEWAY_S)
    iat = _time_claim(claims, "iat", now + LEEWAY_S)
    nbf = _time_claim(claims, "nbf", now + LEEWAY_S)
    if exp + LEEWAY_S < now:
        raise InvalidToken("token expired")
    if key not in _VERIFIED and len(_VERIFIED) >= _VERIFIED_MAX:
        del _VERIFIED[next(iter(_VERIFIED))]
    # The same bounds as above, as a window of `now`.
    valid_from = max(exp - max_ttl_s, iat or 0, nbf or 0) - LEEWAY_S
    _VERIFIED[key] = (claims, valid_from, exp + LEEWAY_S)
    return claims
