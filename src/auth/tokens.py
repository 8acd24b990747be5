"""User tokens: HS256 JWTs with `sub` (the user id) and `exp`, signed with `USER_TOKEN_SECRET`."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt

from auth.user_ids import is_user_id

MAX_TTL_S = 7 * 24 * 3600
MIN_TTL_S = 60
LEEWAY_S = 30  # tolerate small clock skew between the backend that minted and this Worker


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


def verify(secret: str, token: str, now: float) -> str:
    """The user id a valid token names; raises InvalidToken otherwise. Only HS256 is accepted."""
    try:
        # Expiry is checked below against `now`, so every check uses the same clock.
        claims = jwt.decode(token, secret, algorithms=["HS256"],
                            options={"require": ["sub", "exp"], "verify_exp": False, "verify_iat": False})
    except jwt.PyJWTError:
        raise InvalidToken("token invalid") from None
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise InvalidToken("token invalid")
    if exp + LEEWAY_S < now:
        raise InvalidToken("token expired")
    sub = claims.get("sub")
    if not is_user_id(sub):
        raise InvalidToken("token has an invalid subject")
    return sub
