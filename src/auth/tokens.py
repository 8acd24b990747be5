"""User tokens: HS256 JWTs with `sub` (the user id) and `exp`, signed with `USER_TOKEN_SECRET`.

A token lives at most MAX_TTL_S: one whose `exp` is further ahead is refused, whoever minted it,
so no token (and no leaked token) is good for ever. `exp`, and `iat`/`nbf` when present, must be
finite numbers of seconds since the epoch (auth.hs256 checks them).

A token with a `scope` claim is never a user token, whatever it is signed with: scoped tokens (the
queue tokens of auth.queue_tokens) are signed with a key derived from the same secret and checked
there. Refusing the claim here too means a user token and a queue token cannot be mistaken for one
another even if one of the two checks had a bug.
"""

from __future__ import annotations

from datetime import UTC, datetime

from auth import hs256
from auth.hs256 import LEEWAY_S, InvalidToken
from bounds import is_user_id

__all__ = ["LEEWAY_S", "MAX_TTL_S", "MIN_TTL_S", "InvalidToken", "ScopedToken", "mint", "verify"]

MAX_TTL_S = 7 * 24 * 3600
MIN_TTL_S = 60
KIND = "user"


class ScopedToken(InvalidToken):
    """The token carries a `scope` claim: not a user token (perhaps a queue token)."""


def mint(secret: str, user_id: str, ttl_s: int, now: float) -> tuple[str, datetime]:
    """A token for `user_id` valid for `ttl_s` seconds from `now` (unix seconds)."""
    if not is_user_id(user_id):
        raise ValueError("invalid user id")
    if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be between {MIN_TTL_S} and {MAX_TTL_S}")
    exp = int(now) + int(ttl_s)
    token = hs256.encode({"sub": user_id, "iat": int(now), "exp": exp}, secret)
    return token, datetime.fromtimestamp(exp, tz=UTC)


def _screen(claims: dict) -> None:
    if "scope" in claims:
        raise ScopedToken("token has a scope: not a user token")
    if not is_user_id(claims.get("sub")):
        raise InvalidToken("token has an invalid subject")


def verify(secret: str, token: str, now: float) -> str:
    """The user id a valid user token names; raises InvalidToken (ScopedToken for a token with a
    `scope` claim) otherwise."""
    return hs256.verified_claims(KIND, secret, token, now, MAX_TTL_S, _screen)["sub"]
