"""Queue tokens (auth.queue_tokens): minted and checked apart from user tokens, accepted on the encode queue only."""

from __future__ import annotations

import time
from types import SimpleNamespace

import jwt
import pytest

from auth import hs256, queue_tokens, tokens
from auth import identity as ident
from auth.identity import ANONYMOUS, QUEUE, SERVER, USER, AuthError, Identity
from settings import Settings

SECRET = "user-token-secret-" + "0123456789abcdef" * 4
KEY = "key-one-1234567890"
NOW = 1_000_000


def who(headers: dict, query_tokens=()) -> Identity:
    settings = Settings.from_env(SimpleNamespace(API_KEYS=KEY, USER_TOKEN_SECRET=SECRET))
    return ident.resolve({k.lower(): v for k, v in headers.items()}.get, settings, time.time(), query_tokens)


def refusal(call, *args) -> tuple[int, str]:
    with pytest.raises(AuthError) as exc:
        call(*args)
    return exc.value.status, exc.value.code


def queue_token(ttl_s: int = 600) -> str:
    return queue_tokens.mint(SECRET, ttl_s, time.time(), KEY)[0]


def test_round_trip_claims_and_expiry():
    token, expires = queue_tokens.mint(SECRET, 600, NOW, KEY)
    assert expires.timestamp() == NOW + 600
    queue_tokens.verify(SECRET, token, NOW + 100, [KEY])
    claims = jwt.decode(token, queue_tokens.signing_key(SECRET), algorithms=["HS256"], options={"verify_exp": False})
    # No sub: it acts for no user. kid: the key that minted it, which must stay in API_KEYS.
    assert claims == {"scope": "queue", "iat": NOW, "exp": NOW + 600, "kid": queue_tokens.key_id(KEY)}
    assert KEY not in claims["kid"] and len(claims["kid"]) == 16
    queue_tokens.verify(SECRET, token, NOW + 600 + hs256.LEEWAY_S, [KEY])  # the last moment it is good
    with pytest.raises(queue_tokens.InvalidToken, match="expired"):
        queue_tokens.verify(SECRET, token, NOW + 600 + hs256.LEEWAY_S + 0.001, [KEY])
    with pytest.raises(queue_tokens.InvalidToken):
        queue_tokens.verify("another-secret-0123456789abcdef0123", token, NOW + 100, [KEY])


@pytest.mark.parametrize("ttl_s", [0, 59, 12 * 3600 + 1, 7 * 24 * 3600])
def test_ttl_bounds(ttl_s):
    with pytest.raises(ValueError, match="ttl_s"):
        queue_tokens.mint(SECRET, ttl_s, NOW, KEY)


def test_ttl_bounds_are_inclusive_and_longer_exp_is_refused_whoever_minted():
    for ttl_s in (60, 12 * 3600):
        queue_tokens.verify(SECRET, queue_tokens.mint(SECRET, ttl_s, NOW, KEY)[0], NOW, [KEY])
    # Signed with the right key, but good for a day: more than any queue token may live.
    day = jwt.encode({"scope": "queue", "exp": NOW + 24 * 3600}, queue_tokens.signing_key(SECRET), algorithm="HS256")
    with pytest.raises(queue_tokens.InvalidToken, match="exp"):
        queue_tokens.verify(SECRET, day, NOW, [KEY])


def test_the_signing_key_is_derived_not_the_secret():
    key = queue_tokens.signing_key(SECRET)
    assert key != SECRET and SECRET not in key and len(key) == 64
    assert queue_tokens.signing_key(SECRET + "x") != key


def test_a_queue_token_is_never_a_user_token():
    token = queue_token()
    with pytest.raises(tokens.ScopedToken):
        tokens.verify(SECRET, token, time.time())
    # Even a verifier handed the queue key by mistake refuses it: the scope claim alone is enough,
    # and a queue token checked (and remembered) as such is not found by a user-token lookup.
    queue_tokens.verify(SECRET, token, time.time(), [KEY])
    with pytest.raises(tokens.ScopedToken):
        tokens.verify(queue_tokens.signing_key(SECRET), token, time.time())


def test_a_user_token_is_never_a_queue_token():
    user, _ = tokens.mint(SECRET, "alice", 600, time.time())
    assert tokens.verify(SECRET, user, time.time()) == "alice"  # remembered as a user token
    with pytest.raises(queue_tokens.InvalidToken):
        queue_tokens.verify(SECRET, user, time.time(), [KEY])
    # A user-shaped token signed with the queue key is refused by both.
    odd = jwt.encode({"sub": "alice", "exp": int(time.time()) + 600}, queue_tokens.signing_key(SECRET), algorithm="HS256")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(SECRET, odd, time.time())
    with pytest.raises(tokens.InvalidToken):
        queue_tokens.verify(SECRET, odd, time.time(), [KEY])


@pytest.mark.parametrize("claims", [
    {"scope": "queue"}, {"scope": "user"}, {"scope": None}, {"scope": ""}, {"scope": ["queue"]},
])
def test_user_tokens_with_any_scope_claim_are_refused(claims):
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 600, **claims}, SECRET, algorithm="HS256")
    with pytest.raises(tokens.ScopedToken):
        tokens.verify(SECRET, token, time.time())


@pytest.mark.parametrize("claims", [
    {"scope": "queue"},  # the forged scope: signed with USER_TOKEN_SECRET itself
    {"scope": "queue", "sub": "alice"},
])
def test_scoped_tokens_signed_with_the_plain_secret_are_refused(claims):
    token = jwt.encode({"exp": int(time.time()) + 600, **claims}, SECRET, algorithm="HS256")
    with pytest.raises(queue_tokens.InvalidToken):
        queue_tokens.verify(SECRET, token, time.time(), [KEY])
    assert refusal(who, {"Authorization": f"Bearer {token}"}) == (401, "unauthorized")


@pytest.mark.parametrize("claims", [{"scope": "queue", "sub": "alice"}, {"scope": "Queue"}, {"scope": "queue "},
                                    {"scope": "queue", "exp": float("inf")}, {"scope": "queue", "iat": 4102444800}])
def test_queue_tokens_need_exact_claims(claims):
    token = jwt.encode({"exp": int(time.time()) + 600, **claims}, queue_tokens.signing_key(SECRET), algorithm="HS256")
    with pytest.raises(queue_tokens.InvalidToken):
        queue_tokens.verify(SECRET, token, time.time(), [KEY])


def test_identity_of_each_kind():
    user, _ = tokens.mint(SECRET, "alice", 600, time.time())
    assert who({}) == Identity(ANONYMOUS, None)
    assert who({"X-API-Key": KEY}) == Identity(SERVER, None)
    assert who({"Authorization": f"Bearer {user}"}) == Identity(USER, "alice")
    assert who({"Authorization": f"Bearer {queue_token()}"}) == Identity(QUEUE, None)
    # X-User-Id beside a queue token is ignored (it acts for no one), but must still be well-formed.
    assert who({"Authorization": f"Bearer {queue_token()}", "X-User-Id": "bob"}) == Identity(QUEUE, None)
    assert refusal(who, {"Authorization": f"Bearer {queue_token()}", "X-User-Id": "../x"}) == (400, "invalid_user_id")
    # In a WebSocket URL it resolves too, for the upgrade to refuse it (refuse_queue_token).
    assert who({}, [queue_token()]) == Identity(QUEUE, None)


def test_bad_queue_tokens_are_401():
    expired = queue_tokens.mint(SECRET, 60, time.time() - 3600, KEY)[0]
    other = queue_tokens.mint("another-secret-0123456789abcdef0123", 600, time.time(), KEY)[0]
    for token in (expired, other, queue_token()[:-2]):
        assert refusal(who, {"Authorization": f"Bearer {token}"}) == (401, "unauthorized")
    # One credential per request, a queue token included.
    assert refusal(who, {"X-API-Key": KEY, "Authorization": f"Bearer {queue_token()}"}) == (401, "unauthorized")
    assert refusal(who, {"Authorization": f"Bearer {queue_token()}"}, [queue_token()]) == (401, "unauthorized")


def test_route_rules_for_a_queue_token():
    queue = who({"Authorization": f"Bearer {queue_token()}", "X-User-Id": "alice"})
    user = who({"Authorization": f"Bearer {tokens.mint(SECRET, 'alice', 600, time.time())[0]}"})
    server, anonymous = who({"X-API-Key": KEY}), who({})
    # User routes and the WebSocket upgrade: never, X-User-Id or not.
    assert refusal(ident.require_user, queue) == (403, "queue_token_not_allowed")
    assert refusal(ident.refuse_queue_token, queue) == (403, "queue_token_not_allowed")
    assert ident.refuse_queue_token(user) == user and ident.refuse_queue_token(server) == server
    # Server-only routes (minting tokens, queue tokens included): a key and nothing else.
    assert refusal(ident.require_server, queue) == (403, "server_key_required")
    # The encode queue: a key or a queue token.
    assert ident.require_queue_access(queue) == queue and ident.require_queue_access(server) == server
    assert refusal(ident.require_queue_access, user) == (403, "server_key_required")
    assert refusal(ident.require_queue_access, anonymous) == (401, "unauthorized")


def test_remembered_queue_tokens_answer_as_a_full_check():
    token, _ = queue_tokens.mint(SECRET, 600, NOW, KEY)
    for now in (NOW - hs256.LEEWAY_S - 1, NOW, NOW + 630, NOW + 631, NOW - 5):
        outcomes = []
        for _ in range(2):  # the second time from the cache, when the first passed
            try:
                queue_tokens.verify(SECRET, token, now, [KEY])
                outcomes.append("ok")
            except queue_tokens.InvalidToken as exc:
                outcomes.append(str(exc))
        hs256._VERIFIED.clear()
        try:
            queue_tokens.verify(SECRET, token, now, [KEY])
            fresh = "ok"
        except queue_tokens.InvalidToken as exc:
            fresh = str(exc)
        assert outcomes == [fresh, fresh], now


def test_removing_the_key_that_minted_a_token_voids_it():
    token = queue_tokens.mint(SECRET, 600, NOW, KEY)[0]
    queue_tokens.verify(SECRET, token, NOW, ["another-key", KEY])
    for keys_now in (["another-key"], []):
        with pytest.raises(queue_tokens.InvalidToken, match="no longer valid"):
            queue_tokens.verify(SECRET, token, NOW, keys_now)


def test_the_user_token_secret_alone_cannot_make_a_queue_token():
    # A backend that mints user tokens offline holds USER_TOKEN_SECRET, but no API key.
    key = queue_tokens.signing_key(SECRET)
    for kid in (None, "", "0" * 16, queue_tokens.key_id("guessed-key")):
        claims = {"scope": "queue", "iat": int(NOW), "exp": int(NOW) + 600, **({"kid": kid} if kid is not None else {})}
        with pytest.raises(queue_tokens.InvalidToken):
            queue_tokens.verify(SECRET, jwt.encode(claims, key, algorithm="HS256"), NOW, [KEY])
