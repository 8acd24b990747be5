"""Resolve a request's credentials to the identity it acts as (see API.md, "Identity and auth").

- a server API key (`X-API-Key`, or `Authorization: Bearer <key>`) acts for the user named in
  `X-User-Id`, or as the server itself where a route allows that;
- a user token (`Authorization: Bearer <jwt>`, or `?token=` on WebSocket upgrades) acts only for
  its `sub`; an `X-User-Id` naming someone else is a 403;
- a queue token (`Authorization: Bearer <jwt>` with `scope: "queue"`, auth.queue_tokens) acts for
  no user, on the encode queue only: every other route, and the WebSocket upgrade, answer it 403
  `queue_token_not_allowed` (`server_key_required` where only a key will do). An `X-User-Id` beside
  it is ignored, as it is beside a server key on the queue's routes (a malformed one is still a 400);
- no credential is anonymous, which user routes answer with 401.

A request carries at most one credential (`X-API-Key`, `Authorization`, or `?token=` where it is
accepted): two or more are a 401 whatever their values, so no combination of a valid credential
with a junk or empty one is ever read two ways. A header that is present counts, even when empty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auth import api_keys, queue_tokens, tokens
from bounds import is_user_id
from settings import Settings

SERVER, USER, QUEUE, ANONYMOUS = "server", "user", "queue", "anonymous"


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Identity:
    kind: str  # SERVER, USER, QUEUE or ANONYMOUS
    user_id: str | None  # whom the caller acts for; None for anonymous, a queue token, or a key without X-User-Id


def _bearer(authorization: str) -> str:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthError(401, "unauthorized", "Authorization header must be 'Bearer <credential>'")
    return value.strip()


def _queue_identity(settings: Settings, credential: str, now: float) -> Identity:
    """A token with a `scope` claim: valid only as a queue token, signed with the queue tokens' key by
    a server API key still in API_KEYS. (A user token must carry no `scope` claim at all.)"""
    try:
        queue_tokens.verify(settings.secret("USER_TOKEN_SECRET"), credential, now,
                            api_keys.parse_keys(settings.secret("API_KEYS")))
    except queue_tokens.InvalidToken as exc:
        raise AuthError(401, "unauthorized",
                        f"Invalid credential: a token with a scope claim is a queue token, and this one is not valid "
                        f"({exc})") from None
    return Identity(QUEUE, None)  # X-User-Id, if any, is ignored: a queue token acts for no one


def presented_api_key(header: Callable[[str], str | None]) -> str | None:
    """The credential of a request `resolve` found to carry a server API key (its one credential)."""
    api_key = header("x-api-key")
    return api_key if api_key is not None else _bearer(header("authorization") or "")


def resolve(header: Callable[[str], str | None], settings: Settings, now: float,
            query_tokens: Sequence[str] = ()) -> Identity:
    """The caller's identity. Raises AuthError for a bad credential or a malformed/mismatched user id.

    `query_tokens` are the `?token=` values of a WebSocket upgrade (the only place they count).
    """
    api_key = header("x-api-key")
    authorization = header("authorization")
    claimed = header("x-user-id")
    if claimed is not None and not is_user_id(claimed):
        raise AuthError(400, "invalid_user_id", "X-User-Id must be 1-64 characters of A-Z, a-z, 0-9, _ or -")
    presented = (api_key is not None) + (authorization is not None) + len(query_tokens)
    if presented > 1:
        raise AuthError(401, "unauthorized", "Send one credential (X-API-Key, Authorization or ?token=), not several")
    if presented == 0:
        return Identity(ANONYMOUS, None)

    if api_key is not None:
        if not api_keys.is_valid_key(api_key, settings.secret("API_KEYS")):
            raise AuthError(401, "unauthorized", "Invalid API key")
        return Identity(SERVER, claimed)
    if authorization is not None:
        credential = _bearer(authorization)
        if api_keys.is_valid_key(credential, settings.secret("API_KEYS")):
            return Identity(SERVER, claimed)
    else:
        credential = query_tokens[0]
    secret = settings.secret("USER_TOKEN_SECRET")
    try:
        sub = tokens.verify(secret, credential, now)
    except tokens.ScopedToken:
        return _queue_identity(settings, credential, now)
    except tokens.InvalidToken as exc:
        raise AuthError(401, "unauthorized", f"Invalid credential: {exc}") from None
    if claimed is not None and claimed != sub:
        raise AuthError(403, "user_mismatch", "X-User-Id does not match the user of this token")
    return Identity(USER, sub)


def refuse_queue_token(identity: Identity) -> Identity:
    """Every route but the encode queue's (and the WebSocket upgrade) refuses a queue token."""
    if identity.kind == QUEUE:
        raise AuthError(403, "queue_token_not_allowed",
                        "A queue token is accepted on the encode queue (/api/jobs) only")
    return identity


def require_user(identity: Identity) -> str:
    """The user id a user-scoped route acts for; raises AuthError when there is none."""
    if identity.kind == ANONYMOUS:
        raise AuthError(401, "unauthorized", "Missing credential: send an API key or a user token")
    refuse_queue_token(identity)
    if identity.user_id is None:
        raise AuthError(400, "missing_user_id", "A server API key must name the user in X-User-Id")
    return identity.user_id


def _require(identity: Identity, kinds: tuple[str, ...], what: str) -> Identity:
    if identity.kind == ANONYMOUS:
        raise AuthError(401, "unauthorized", f"Missing credential: this route needs {what}")
    if identity.kind not in kinds:
        raise AuthError(403, "server_key_required", f"This route needs {what}, not a {identity.kind} token")
    return identity


def require_server(identity: Identity) -> Identity:
    return _require(identity, (SERVER,), "a server API key")


def require_queue_access(identity: Identity) -> Identity:
    """The encode queue's routes: a server API key or a queue token."""
    return _require(identity, (SERVER, QUEUE), "a server API key or a queue token")
