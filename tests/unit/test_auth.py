"""API keys, user tokens, callback signatures and identity resolution."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from types import SimpleNamespace

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth import api_keys, callback_sig, hs256, tokens
from auth.identity import ANONYMOUS, SERVER, USER, AuthError, require_server, require_user, resolve
from settings import MissingSecret, Settings

SECRET = "user-token-secret-" + "0123456789abcdef" * 4
KEYS = "key-one-1234567890,key-two-1234567890"


def settings(**overrides) -> Settings:
    return Settings.from_env(SimpleNamespace(**{"API_KEYS": KEYS, "USER_TOKEN_SECRET": SECRET, **overrides}))


def who(headers: dict, query_tokens=(), **overrides):
    lower = {k.lower(): v for k, v in headers.items()}
    return resolve(lower.get, settings(**overrides), time.time(), query_tokens)


def test_tokens_round_trip_and_bounds():
    token, expires = tokens.mint(SECRET, "alice", 600, 1_000_000)
    assert expires.timestamp() == 1_000_600
    assert tokens.verify(SECRET, token, 1_000_100) == "alice"
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(SECRET, token, 1_000_700)  # past exp + leeway by our clock
    with pytest.raises(tokens.InvalidToken):
        tokens.verify("another-secret-0123456789abcdef0123", token, 1_000_100)
    for ttl in (0, 59, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError):
            tokens.mint(SECRET, "alice", ttl, 0)
    with pytest.raises(ValueError):
        tokens.mint(SECRET, "../x", 600, 0)


@pytest.mark.parametrize("claims", [{"exp": 4102444800}, {"sub": "alice"}, {"sub": "bad id", "exp": 4102444800},
                                    {"sub": 5, "exp": 4102444800}])
def test_tokens_need_a_valid_sub_and_exp(claims):
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"), time.time())


def test_only_hs256_is_accepted():
    claims = {"sub": "alice", "exp": 4102444800}
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(SECRET, jwt.encode(claims, SECRET, algorithm="HS512"), time.time())
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(SECRET, unsigned, time.time())


def test_api_keys():
    assert api_keys.is_valid_key("key-two-1234567890", KEYS)
    assert not api_keys.is_valid_key("key-two-123456789", KEYS)
    assert not api_keys.is_valid_key("", KEYS) and not api_keys.is_valid_key("x", " , ")


def test_callback_signatures():
    sig = callback_sig.sign("cb-secret", "job1", "alice")
    assert callback_sig.verify("cb-secret", "job1", "alice", sig)
    assert callback_sig.verify("cb-secret", "job1", "alice", sig.upper())
    assert not callback_sig.verify("cb-secret", "job2", "alice", sig)
    assert not callback_sig.verify("cb-secret", "job1", "bob", sig)  # the user is signed with the job
    assert not callback_sig.verify("cb-secret", "job1", None, sig)
    assert not callback_sig.verify("cb-secret", "job1", "alice", None)
    assert not callback_sig.verify("cb-secret", "job1", "alice", "")
    # "a/b" + "c" and "a" + "b/c" would sign the same text; ids cannot hold "/" (bounds), so they never meet.
    url = callback_sig.callback_url("https://w.example/", "job1", "alice", "cb-secret")
    assert url == f"https://w.example/api/runpod/callback/job1?u=alice&sig={sig}"


def test_identity_resolution():
    token, _ = tokens.mint(SECRET, "alice", 600, time.time())
    assert who({}).kind == ANONYMOUS
    assert who({"X-API-Key": "key-one-1234567890", "X-User-Id": "bob"}) == who(
        {"Authorization": "Bearer key-one-1234567890", "X-User-Id": "bob"})
    assert who({"X-API-Key": "key-one-1234567890"}).kind == SERVER
    ident = who({"Authorization": f"Bearer {token}"})
    assert (ident.kind, ident.user_id) == (USER, "alice")
    assert who({}, query_tokens=[token]).user_id == "alice"
    assert who({"Authorization": f"Bearer {token}", "X-User-Id": "alice"}).user_id == "alice"


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({"X-API-Key": "nope"}, 401, "unauthorized"),
    ({"Authorization": "Basic abc"}, 401, "unauthorized"),
    ({"Authorization": "Bearer"}, 401, "unauthorized"),
    ({"Authorization": "Bearer not-a-token"}, 401, "unauthorized"),
    ({"X-API-Key": "key-one-1234567890", "X-User-Id": "../bob"}, 400, "invalid_user_id"),
])
def test_identity_refusals(headers, status, code):
    with pytest.raises(AuthError) as exc:
        who(headers)
    assert (exc.value.status, exc.value.code) == (status, code)


def _hand_made_token(claims_json: str, secret: str = SECRET) -> str:
    """A correctly signed HS256 token whose claims are exactly `claims_json` (which may hold NaN etc.)."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = b64(b'{"alg":"HS256","typ":"JWT"}')
    signing_input = f"{header}.{b64(claims_json.encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_a_hand_made_token_is_accepted_when_sound():
    now = int(time.time())
    assert tokens.verify(SECRET, _hand_made_token(json.dumps({"sub": "alice", "exp": now + 60})), now) == "alice"
    assert tokens.verify(SECRET, _hand_made_token(json.dumps({"sub": "alice", "exp": now + 60.5, "iat": now,
                                                               "nbf": now - 5})), now) == "alice"


@pytest.mark.parametrize("claims", [
    '{"sub": "alice\n", "exp": EXP}',  # a user id with a trailing newline is another string, not alice
    '{"sub": "alice", "exp": 1e300}', '{"sub": "alice", "exp": Infinity}', '{"sub": "alice", "exp": NaN}',
    '{"sub": "alice", "exp": -Infinity}', '{"sub": "alice", "exp": true}', '{"sub": "alice", "exp": "EXP"}',
    '{"sub": "alice", "exp": 99999999999999999999}',
    '{"sub": "alice", "exp": EXP, "iat": NaN}', '{"sub": "alice", "exp": EXP, "iat": 1e300}',
    '{"sub": "alice", "exp": EXP, "nbf": Infinity}', '{"sub": "alice", "exp": EXP, "nbf": NOW_PLUS_HOUR}',
    '{"sub": "alice", "exp": EXP, "iat": NOW_PLUS_HOUR}', '{"sub": "alice", "exp": EXP, "iat": -1}',
    '{"sub": "alice", "exp": EIGHT_DAYS}',  # longer than any token may live
    '{"sub": "alice", "exp": EXP, "x": ' + "[" * 5000 + "]" * 5000 + "}",  # deep nesting: refused, no RecursionError
])
def test_unsound_time_claims_and_subjects_are_refused(claims):
    now = int(time.time())
    claims = (claims.replace("NOW_PLUS_HOUR", str(now + 3600)).replace("EIGHT_DAYS", str(now + 8 * 24 * 3600))
              .replace("EXP", str(now + 600)))
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(SECRET, _hand_made_token(claims), now)


def test_overlong_or_malformed_tokens_are_refused():
    token, _ = tokens.mint(SECRET, "alice", 600, time.time())
    for bad in (token + "x" * 5000, token.replace(".", "", 1), token + ".x", "a.b.c", "..", ""):
        with pytest.raises(tokens.InvalidToken):
            tokens.verify(SECRET, bad, time.time())


@pytest.mark.parametrize("headers", [
    {"X-API-Key": "key-one-1234567890", "Authorization": "Bearer "},
    {"X-API-Key": "key-one-1234567890", "Authorization": "Bearer junk"},
    {"X-API-Key": "key-one-1234567890", "Authorization": "Bearer key-two-1234567890"},
    {"X-API-Key": "junk", "Authorization": "Bearer key-two-1234567890"},
    {"X-API-Key": ""},
    {"Authorization": ""},
])
def test_one_credential_at_most(headers):
    with pytest.raises(AuthError) as exc:
        who({**headers, "X-User-Id": "bob"})
    assert (exc.value.status, exc.value.code) == (401, "unauthorized")


def test_one_credential_at_most_with_query_tokens_too():
    token, _ = tokens.mint(SECRET, "alice", 600, time.time())
    for headers, query_tokens in (({"X-API-Key": "key-one-1234567890"}, [token]),
                                  ({"Authorization": f"Bearer {token}"}, [token]), ({}, [token, token])):
        with pytest.raises(AuthError) as exc:
            who(headers, query_tokens=query_tokens)
        assert exc.value.status == 401
    # A server key is never taken from a URL: ?token= is a user token or nothing.
    with pytest.raises(AuthError):
        who({}, query_tokens=["key-one-1234567890"])


def test_token_user_mismatch_is_403():
    token, _ = tokens.mint(SECRET, "alice", 600, time.time())
    with pytest.raises(AuthError) as exc:
        who({"Authorization": f"Bearer {token}", "X-User-Id": "bob"})
    assert exc.value.status == 403


def test_route_requirements():
    token, _ = tokens.mint(SECRET, "alice", 600, time.time())
    assert require_user(who({"Authorization": f"Bearer {token}"})) == "alice"
    with pytest.raises(AuthError) as exc:
        require_user(who({"X-API-Key": "key-one-1234567890"}))
    assert exc.value.code == "missing_user_id"
    with pytest.raises(AuthError) as exc:
        require_server(who({"Authorization": f"Bearer {token}"}))
    assert exc.value.status == 403
    with pytest.raises(AuthError) as exc:
        require_user(who({}))
    assert exc.value.status == 401


def test_missing_secrets_name_the_variable():
    with pytest.raises(MissingSecret) as exc:
        who({"X-API-Key": "x"}, API_KEYS="")
    assert exc.value.name == "API_KEYS"
    assert "key-one" not in repr(settings())


def _outcome(secret: str, token: str, now: float) -> str:
    try:
        return tokens.verify(secret, token, now)
    except tokens.InvalidToken as exc:
        return f"refused: {exc}"


@given(st.integers(1_000_000, 1_100_000), st.one_of(st.none(), st.integers(-200, 200)),
       st.one_of(st.none(), st.integers(-200, 200)), st.integers(-100, 7 * 24 * 3600 + 100),
       st.lists(st.tuples(st.integers(-8 * 24 * 3600, 8 * 24 * 3600), st.booleans()), min_size=1, max_size=12))
def test_remembered_tokens_answer_exactly_as_a_full_check_at_every_moment(t0, iat, nbf, ttl, checks):
    claims = {"sub": "alice", "exp": t0 + ttl}
    if iat is not None:
        claims["iat"] = t0 + iat
    if nbf is not None:
        claims["nbf"] = t0 + nbf
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    other = "another-secret-0123456789abcdef0123"
    for offset, with_other_secret in checks:
        secret, now = (other if with_other_secret else SECRET), t0 + offset
        remembered = _outcome(secret, token, now)
        hs256._VERIFIED.clear()  # the same question to a fresh isolate
        assert remembered == _outcome(secret, token, now)


def test_a_remembered_token_ends_exactly_where_the_full_check_does():
    token, _ = tokens.mint(SECRET, "alice", 600, 1_000_000)
    last = 1_000_600 + tokens.LEEWAY_S  # exp + leeway: the last moment the full check accepts
    assert tokens.verify(SECRET, token, 1_000_000) == "alice"  # remembered from here on
    assert tokens.verify(SECRET, token, last) == "alice"
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.verify(SECRET, token, last + 0.001)
    first = 1_000_000 - tokens.LEEWAY_S  # iat - leeway: the first moment it accepts
    assert tokens.verify(SECRET, token, first) == "alice"
    with pytest.raises(tokens.InvalidToken, match="iat"):
        tokens.verify(SECRET, token, first - 0.001)
