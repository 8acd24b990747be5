"""User tokens: HS256 JWTs with `sub` (the user id) and `exp`, signed with `USER_TOKEN_SECRET`.

A token lives at most MAX_TTL_S: one whose `exp` is further ahead is refused, whoever minted it,
so no token (and no leaked token) is good for ever. `exp`, and `iat`/`nbf` when present, must be
finite numbers of seconds since the epoch.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

import jwt

from bounds import MAX_CREDENTIAL_CHARS, is_finite_number, is_user_id, parse_json

MAX_TTL_S = 7 * 24 * 3600
MIN_TTL_S = 60
LEEWAY_S = 30  # tolerate small clock skew between the backend that minted and this Worker

# Tokens this isolate verified, by (secret, token): a client presents the same token on every request
# (a status poll, a page's calls), and the full check costs ~1 ms of a request's CPU in Pyodide. All
# the check depends on besides the token is the clock, so a verified token is kept with the window of
# `now` in which it passes (from its iat/nbf/exp bounds to its expiry); outside it, the full check
# runs again and says why it fails. Only successes are kept, at most _VERIFIED_MAX (oldest dropped
# first). A lookup compares a presented token with a stored one only when their hashes match, i.e.
# only a caller who already holds that exact valid token gets that far.
_VERIFIED: dict[tuple[str, str], tuple[str, float, float]] = {}
_VERIFIED_MAX = 1024


class InvalidToken(Exception):  # noqa: N818 - reads as what it is
    """The token is malformed, expired, wrongly signed or lacks a valid `sub`."""


def mint(secret: str, user_id: str, ttl_s: int, now: float) -> tuple[str, datetime]:
    """A token for `user_id` valid for `ttl_s` seconds from `now` (unix seconds)."""
    if not is_user_id(user_id):
        raise ValueError("invalid user id")
    if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be between {MIN_TTL_S} and {MAX_TTL_S}")
    exp = int(now) + int(ttl_s)
    token = jwt.encode({"sub": user_id, "iat": int(now), "exp": exp}, secret, algorithm="HS256")
    return token, datetime.fromtimestamp(exp, tz=UTC)


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


def verify(secret: str, token: str, now: float) -> str:
    """The user id a valid token names; raises InvalidToken otherwise. Only HS256 is accepted."""
    if not isinstance(token, str) or len(token) > MAX_CREDENTIAL_CHARS or token.count(".") != 2:
        raise InvalidToken("token invalid")
    known = _VERIFIED.get((secret, token))
    if known is not None and known[1] <= now <= known[2]:
        return known[0]
    header, payload, _ = token.split(".")
    _segment_json(header)
    claims = _segment_json(payload)
    if not isinstance(claims, dict):
        raise InvalidToken("token invalid")
    try:
        # The time claims are checked below against `now`, so every check uses the same clock.
        jwt.decode(token, secret, algorithms=["HS256"],
                   options={"require": ["sub", "exp"], "verify_exp": False, "verify_iat": False,
                            "verify_nbf": False})
    except jwt.PyJWTError:
        raise InvalidToken("token invalid") from None
    exp = _time_claim(claims, "exp", now + MAX_TTL_S + LEEWAY_S)
    iat = _time_claim(claims, "iat", now + LEEWAY_S)
    nbf = _time_claim(claims, "nbf", now + LEEWAY_S)
    if exp + LEEWAY_S < now:
        raise InvalidToken("token expired")
    sub = claims.get("sub")
    if not is_user_id(sub):
        raise InvalidToken("token has an invalid subject")
    if (secret, token) not in _VERIFIED and len(_VERIFIED) >= _VERIFIED_MAX:
        del _VERIFIED[next(iter(_VERIFIED))]
    # The same bounds as above, as a window of `now`.
    valid_from = max(exp - MAX_TTL_S, iat or 0, nbf or 0) - LEEWAY_S
    _VERIFIED[(secret, token)] = (sub, valid_from, exp + LEEWAY_S)
    return sub
