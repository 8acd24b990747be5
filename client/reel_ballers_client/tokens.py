"""User tokens minted offline, from the same secret the Worker checks them with (USER_TOKEN_SECRET).

The Worker's rules (docs/api.md, "Identity and auth"): HS256, `sub` 1-64 of `A-Z a-z 0-9 _ -`, a
finite `exp` at most 7 days ahead. Minting here refuses what the Worker would refuse, so a backend
finds its mistake at once instead of in a browser's failed WebSocket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

USER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MIN_TTL_S, MAX_TTL_S = 60, 7 * 24 * 3600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def mint_user_token(user_id: str, secret: str, ttl_s: int = 3600, now: float | None = None) -> str:
    """A browser token for `user_id`, valid `ttl_s` seconds (60 s to 7 days)."""
    if not isinstance(user_id, str) or USER_ID.fullmatch(user_id) is None:
        raise ValueError("user_id must be 1-64 characters of A-Z a-z 0-9 _ -")
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be an integer from {MIN_TTL_S} to {MAX_TTL_S}")
    if not secret:
        raise ValueError("secret is empty")
    issued = int(time.time() if now is None else now)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = _b64(json.dumps({"sub": user_id, "iat": issued, "exp": issued + ttl_s}, separators=(",", ":")).encode())
    signing_input = f"{header}.{claims}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"
