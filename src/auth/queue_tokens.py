"""Queue tokens: what the encode-queue pages hold instead of the server API key (API.md "Queue tokens").

An HS256 JWT with claims `scope: "queue"`, `iat`, `exp` and `kid`, and no `sub`: it acts for no user, and
the only routes that take it are the encode queue's. It lives at most MAX_TTL_S (12 h, an operator's
working day), so a leaked one is worth at most that, on the queue only, where the key itself would
be worth every user's data until it is rotated.

It is signed with a key derived from `USER_TOKEN_SECRET` by domain separation, not with the secret
itself: a queue token then never verifies as a user token nor a user token as a queue token, even
if a claim check had a bug (each kind also refuses the other's claims), and no new secret is needed.

`kid` names the server API key that minted the token (HMAC-SHA256(key, label), cut to 16 hex digits:
it reveals nothing of the key), and a token counts only while that key is still in `API_KEYS`. So
removing a leaked key voids every queue token minted with it, and a holder of `USER_TOKEN_SECRET`
alone (a backend minting user tokens offline) cannot make a queue token: it knows no key's `kid`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

from auth import hs256
from auth.compare import matches_any
from auth.hs256 import InvalidToken

MIN_TTL_S = 60
MAX_TTL_S = 12 * 3600
DEFAULT_TTL_S = 3600
SCOPE = "queue"
KIND = "queue"
_DOMAIN = b"reel-ballers queue token v1"  # change the version to make every queue token void at once
_KEY_ID = b"reel-ballers queue token key id v1"


# Both are pure functions of secrets fixed for an isolate's life, asked on every request with a queue
# token: worked out once each.
@cache
def signing_key(user_token_secret: str) -> str:
    """HMAC-SHA256(USER_TOKEN_SECRET, domain), hex: the queue tokens' own key."""
    return hmac.new(user_token_secret.encode(), _DOMAIN, hashlib.sha256).hexdigest()


@cache
def key_id(api_key: str) -> str:
    """The `kid` of the tokens `api_key` mints."""
    return hmac.new(api_key.encode(), _KEY_ID, hashlib.sha256).hexdigest()[:16]


def mint(user_token_secret: str, ttl_s: int, now: float, api_key: str) -> tuple[str, datetime]:
    """A queue token minted with `api_key`, valid for `ttl_s` seconds from `now` (unix seconds)."""
    if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be between {MIN_TTL_S} and {MAX_TTL_S}")
    exp = int(now) + int(ttl_s)
    token = hs256.encode({"scope": SCOPE, "iat": int(now), "exp": exp, "kid": key_id(api_key)},
                         signing_key(user_token_secret))
    return token, datetime.fromtimestamp(exp, tz=UTC)


def _screen(claims: dict) -> None:
    if claims.get("scope") != SCOPE:
        raise InvalidToken("not a queue token")
    if "sub" in claims:
        raise InvalidToken("a queue token names no user")


def verify(user_token_secret: str, token: str, now: float, api_keys: Sequence[str]) -> None:
    """Returns when `token` is a valid queue token minted by one of `api_keys`; raises InvalidToken otherwise."""
    claims = hs256.verified_claims(KIND, signing_key(user_token_secret), token, now, MAX_TTL_S, _screen)
    kid = claims.get("kid")
    if not isinstance(kid, str) or not api_keys or not matches_any(kid, [key_id(k) for k in api_keys]):
        raise InvalidToken("the API key that minted this queue token is no longer valid")
