"""Every route against every kind of credential (API.md, "Identity and auth").

ROUTES is the one table to extend when a route is added: its kind says which credentials it
takes, and `ok` is what it answers a valid caller with the request given here. The encode queue's
routes (QUEUE) take a server key or a queue token (API.md "Queue tokens"); no other route takes a
queue token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import SECRETS, SERVER_KEY, user_token

USER, SERVER, QUEUE, CALLBACK, PUBLIC = "user", "server", "queue", "callback", "public"
OVERLAY = {"project_id": 1, "input_key": "working_videos/none.mp4",
           "params": {"highlight_regions": [], "effect_type": "blur"}}

ROUTES = [
    # (method, path, json body, kind, status a valid caller gets)
    ("GET", "/health", None, PUBLIC, 200),
    ("GET", "/openapi.json", None, PUBLIC, 200),
    ("POST", "/api/auth/token", {"user_id": "alice", "ttl_s": 600}, SERVER, 200),
    ("POST", "/api/auth/queue-token", {"ttl_s": 600}, SERVER, 200),
    ("GET", "/api/scheduler", None, SERVER, 200),
    ("POST", "/api/export/overlay/start", OVERLAY, USER, 400),  # input object absent: input_not_found
    ("GET", "/api/export/status/nosuchjob", None, USER, 404),
    ("GET", "/api/export/overlay/status/nosuchjob", None, USER, 404),
    ("GET", "/api/export/status/nosuchjob?wait_s=5", None, USER, 404),
    ("GET", "/api/export/jobs/nosuchjob/events", None, USER, 404),  # server-sent events, served by the entry point
    ("GET", "/api/export/jobs", None, USER, 200),
    ("POST", "/api/export/jobs/nosuchjob/cancel", None, USER, 404),
    ("GET", "/api/storage/presigned-url?key=final_videos/a.mp4", None, USER, 200),
    ("POST", "/api/storage/upload-url", {"key": "working_videos/a.mp4"}, USER, 200),
    ("GET", "/api/downloads", None, USER, 200),
    ("POST", "/api/runpod/callback/nosuchjob", {"status": "progress", "progress": 1}, CALLBACK, 401),
    ("POST", "/api/jobs/nosuchjob/do", {"status": "progress", "progress": 1}, CALLBACK, 401),
    # The encode queue: rows go to one queue, the rest ask another that stays empty.
    ("POST", "/api/jobs?queue=auth-matrix", {"file_name": "a.mp4"}, QUEUE, 201),
    ("GET", "/api/jobs/claim?queue=auth-matrix-empty", None, QUEUE, 404),
    ("POST", "/api/jobs/claim?queue=auth-matrix-empty", None, QUEUE, 404),
    ("GET", "/api/jobs?queue=auth-matrix-empty", None, QUEUE, 200),
    ("GET", "/api/jobs/stats?queue=auth-matrix-empty", None, QUEUE, 200),
    ("GET", "/api/jobs/1?queue=auth-matrix-empty", None, QUEUE, 404),
    ("POST", "/api/jobs/1/heartbeat?queue=auth-matrix-empty", None, QUEUE, 404),
    ("POST", "/api/jobs/1/finish?queue=auth-matrix-empty", None, QUEUE, 404),
    ("POST", "/api/jobs/1/fail?queue=auth-matrix-empty", {"error": "x"}, QUEUE, 404),
    ("POST", "/api/jobs/1/requeue?queue=auth-matrix-empty", None, QUEUE, 404),
    ("DELETE", "/api/jobs/1?queue=auth-matrix-empty", None, QUEUE, 404),
]


def _signed_token(claims: str) -> str:
    """A token signed with the right secret whose claims are exactly `claims` (NaN and all)."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(claims.encode())
    sig = hmac.new(SECRETS["USER_TOKEN_SECRET"].encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


# The queue tokens' key, written out here rather than imported: the contract is HMAC-SHA256 of the
# user-token secret over this label, and a change to it must show up as a failing test.
QUEUE_KEY = hmac.new(SECRETS["USER_TOKEN_SECRET"].encode(), b"reel-ballers queue token v1", hashlib.sha256).hexdigest()
# And the `kid` that names the server key that minted one: HMAC-SHA256 of the key over its label, 16 hex digits.
KID = hmac.new(SERVER_KEY.encode(), b"reel-ballers queue token key id v1", hashlib.sha256).hexdigest()[:16]


def queue_token(ttl_s: int = 3600, secret: str = QUEUE_KEY, **claims) -> str:
    now = int(time.time())
    return jwt.encode({"scope": "queue", "iat": now, "exp": now + ttl_s, "kid": KID, **claims}, secret,
                      algorithm="HS256")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SOON = int(time.time()) + 3600


def _claims(**claims) -> str:
    return json.dumps(claims)  # Python's json writes NaN and Infinity, as a careless minter would


def _alg_none_token(user_id: str) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': user_id, 'exp': 4102444800})}."


CREDENTIALS = {
    "none": {},
    "malformed_authorization": {"Authorization": "Basic dXNlcjpwYXNz"},
    "empty_bearer": {"Authorization": "Bearer"},
    "wrong_key": {"X-API-Key": "not-a-key", "X-User-Id": "alice"},
    "wrong_bearer_key": {"Authorization": "Bearer not-a-key-either"},
    "expired_token": {"Authorization": f"Bearer {user_token('alice', ttl_s=-3600)}"},
    "token_other_secret": {"Authorization": f"Bearer {user_token('alice', secret='some-other-secret-entirely-xxxxxxxx')}"},
    "alg_none_token": {"Authorization": f"Bearer {_alg_none_token('alice')}"},
    # Sound signatures over unsound claims: a subject with a trailing newline, times that never end.
    "token_sub_newline": _bearer(_signed_token(_claims(sub="alice\n", exp=SOON))),
    "token_exp_1e300": _bearer(_signed_token(_claims(sub="alice", exp=1e300))),
    "token_exp_infinity": _bearer(_signed_token(_claims(sub="alice", exp=float("inf")))),
    "token_exp_nan": _bearer(_signed_token(_claims(sub="alice", exp=float("nan")))),
    "token_nbf_nan": _bearer(_signed_token(_claims(sub="alice", exp=SOON, nbf=float("nan")))),
    "token_for_a_year": _bearer(user_token("alice", ttl_s=365 * 24 * 3600)),
    # One credential per request: a valid key beside any Authorization is refused, empty or not.
    # ("Bearer " arrives as "Bearer": HTTP drops a header value's trailing whitespace.)
    "valid_key_and_empty_bearer": {"X-API-Key": SERVER_KEY, "X-User-Id": "alice", "Authorization": "Bearer"},
    "valid_key_and_junk_bearer": {"X-API-Key": SERVER_KEY, "X-User-Id": "alice", "Authorization": "Bearer junk"},
    "valid_key_and_valid_token": {"X-API-Key": SERVER_KEY, "Authorization": f"Bearer {user_token('alice')}"},
    "valid_key": {"X-API-Key": SERVER_KEY, "X-User-Id": "alice"},
    "valid_key_as_bearer": {"Authorization": f"Bearer {SERVER_KEY}", "X-User-Id": "alice"},
    "valid_token": {"Authorization": f"Bearer {user_token('alice')}"},
    # Queue tokens: good on the encode queue only. An X-User-Id beside one is ignored.
    "queue_token": _bearer(queue_token()),
    "queue_token_and_user_id": {**_bearer(queue_token()), "X-User-Id": "alice"},
    "expired_queue_token": _bearer(queue_token(ttl_s=-3600)),
    "queue_token_for_a_day": _bearer(queue_token(ttl_s=24 * 3600)),
    # A scope claim forged into a token signed with USER_TOKEN_SECRET itself: neither kind of token.
    "queue_token_plain_secret": _bearer(queue_token(secret=SECRETS["USER_TOKEN_SECRET"])),
    "user_token_with_scope": _bearer(user_token("alice", scope="queue")),
    "queue_token_with_sub": _bearer(queue_token(sub="alice")),
    # Minted by a key that is not (or no longer) in API_KEYS.
    "queue_token_of_a_removed_key": _bearer(queue_token(kid="0123456789abcdef")),
    "valid_key_and_queue_token": {"X-API-Key": SERVER_KEY, **_bearer(queue_token())},
}
QUEUE_TOKENS = {"queue_token", "queue_token_and_user_id"}
BAD = {"malformed_authorization", "empty_bearer", "wrong_key", "wrong_bearer_key", "expired_token",
       "token_other_secret", "alg_none_token", "token_sub_newline", "token_exp_1e300", "token_exp_infinity",
       "token_exp_nan", "token_nbf_nan", "token_for_a_year", "valid_key_and_empty_bearer", "valid_key_and_junk_bearer",
       "valid_key_and_valid_token", "expired_queue_token", "queue_token_for_a_day", "queue_token_plain_secret",
       "user_token_with_scope", "queue_token_with_sub", "queue_token_of_a_removed_key", "valid_key_and_queue_token"}


def expected(kind: str, ok: int, credential: str) -> int:
    if kind == PUBLIC:
        return ok
    if kind == CALLBACK:
        return 401  # only the signature counts; API keys and tokens do not replace it
    if credential == "none" or credential in BAD:
        return 401
    if credential in QUEUE_TOKENS:
        return ok if kind == QUEUE else 403
    if kind in (SERVER, QUEUE) and credential == "valid_token":
        return 403
    return ok


# The code of each 403, by route kind: what a client reads to know which credential it needs.
FORBIDDEN_CODE = {USER: "queue_token_not_allowed", SERVER: "server_key_required", QUEUE: "server_key_required"}


@pytest.mark.parametrize("credential", list(CREDENTIALS))
@pytest.mark.parametrize(("method", "path", "body", "kind", "ok"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_route_credentials(client: httpx.Client, method, path, body, kind, ok, credential):
    r = client.request(method, path, json=body, headers=CREDENTIALS[credential])
    assert r.status_code == expected(kind, ok, credential), r.text
    if r.status_code >= 400:
        err = r.json()
        assert set(err) >= {"error", "code"} and isinstance(err["error"], str)
        assert "Traceback" not in r.text
        for secret_value in (SERVER_KEY, "test-user-token-secret", QUEUE_KEY):
            assert secret_value not in r.text
    if r.status_code == 403:
        assert r.json()["code"] == FORBIDDEN_CODE[kind], r.text


USER_ROUTES = [r for r in ROUTES if r[3] == USER]


@pytest.mark.parametrize(("method", "path", "body", "kind", "ok"), USER_ROUTES, ids=[r[1] for r in USER_ROUTES])
def test_user_id_rules(client: httpx.Client, method, path, body, kind, ok):
    # A server key must name the user, with a well-formed id.
    assert client.request(method, path, json=body, headers={"X-API-Key": SERVER_KEY}).status_code == 400
    for bad in ("../bob", "a" * 65, "al ice", "bob/x", ""):
        r = client.request(method, path, json=body, headers={"X-API-Key": SERVER_KEY, "X-User-Id": bad})
        assert r.status_code == 400, (bad, r.text)
    # A token acts only for its subject.
    r = client.request(method, path, json=body,
                       headers={"Authorization": f"Bearer {user_token('alice')}", "X-User-Id": "bob"})
    assert r.status_code == 403 and r.json()["code"] == "user_mismatch"
    r = client.request(method, path, json=body,
                       headers={"Authorization": f"Bearer {user_token('alice')}", "X-User-Id": "alice"})
    assert r.status_code == ok


def test_minted_token_works_and_is_bounded(client: httpx.Client):
    r = client.post("/api/auth/token", json={"user_id": "carol", "ttl_s": 600}, headers={"X-API-Key": SERVER_KEY})
    assert r.status_code == 200
    token = r.json()["token"]
    assert r.json()["expires_at"].endswith("Z")
    assert client.get("/api/export/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for bad in ({"user_id": "carol", "ttl_s": 8 * 24 * 3600}, {"user_id": "carol", "ttl_s": 10},
                {"user_id": "../x"}, {"user_id": "carol", "ttl_s": "600"}, {"ttl_s": 60}, {"user_id": 5}):
        r = client.post("/api/auth/token", json=bad, headers={"X-API-Key": SERVER_KEY})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"] == "validation_error" and r.json()["details"]


def test_minted_queue_token_works_on_the_queue_only(client: httpx.Client):
    r = client.post("/api/auth/queue-token", json={"ttl_s": 600}, headers={"X-API-Key": SERVER_KEY})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == {"token", "token_type", "expires_at"} and answer["token_type"] == "Bearer"
    claims = jwt.decode(answer["token"], QUEUE_KEY, algorithms=["HS256"])
    assert set(claims) == {"scope", "iat", "exp", "kid"} and claims["scope"] == "queue" and claims["kid"] == KID
    assert claims["exp"] - claims["iat"] == 600 and abs(claims["iat"] - time.time()) < 60
    assert answer["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"]))
    token = _bearer(answer["token"])
    assert client.get("/api/jobs/stats", params={"queue": "auth-matrix-empty"}, headers=token).status_code == 200
    r = client.get("/api/export/jobs", headers=token)
    assert (r.status_code, r.json()["code"]) == (403, "queue_token_not_allowed")
    # A queue token mints nothing, not even another queue token (a leaked one cannot outlive its TTL).
    for path, body in (("/api/auth/queue-token", {}), ("/api/auth/token", {"user_id": "alice"})):
        r = client.post(path, json=body, headers=token)
        assert (r.status_code, r.json()["code"]) == (403, "server_key_required"), path


def test_queue_token_lifetime_is_bounded(client: httpx.Client):
    key = {"X-API-Key": SERVER_KEY}
    # No body (with a JSON Content-Type) or {}: one hour.
    for r in (client.post("/api/auth/queue-token", headers={**key, "Content-Type": "application/json"}),
              client.post("/api/auth/queue-token", json={}, headers=key)):
        assert r.status_code == 200, r.text
        claims = jwt.decode(r.json()["token"], QUEUE_KEY, algorithms=["HS256"])
        assert claims["exp"] - claims["iat"] == 3600
    for ttl_s in (60, 43200):
        assert client.post("/api/auth/queue-token", json={"ttl_s": ttl_s}, headers=key).status_code == 200
    for bad in ({"ttl_s": 59}, {"ttl_s": 43201}, {"ttl_s": "600"}, {"ttl_s": 600.5}, {"ttl_s": 600, "scope": "x"},
                {"user_id": "alice"}, [600]):
        r = client.post("/api/auth/queue-token", json=bad, headers=key)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"] == "validation_error"
    r = client.post("/api/auth/queue-token", headers=key)  # no body and no JSON Content-Type
    assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type")


def test_openapi_lists_the_queue_token_statuses(client: httpx.Client):
    paths = client.get("/openapi.json").json()["paths"]
    mint = paths["/api/auth/queue-token"]["post"]["responses"]
    assert {"200", "400", "401", "403", "413", "415", "422", "500"} <= set(mint)
    assert "server_key_required" in mint["403"]["description"]
    assert "queue_token_not_allowed" in paths["/api/export/jobs"]["get"]["responses"]["403"]["description"]
    assert "queue_token_not_allowed" not in paths["/api/auth/token"]["post"]["responses"]["403"]["description"]
    for path in ("/api/jobs/stats", "/api/jobs/{job_id}"):
        for operation in paths[path].values():
            assert {"400", "401", "403"} <= set(operation["responses"]), path


def _ws_status(worker, path: str, headers: dict | None = None) -> int:
    try:
        with connect(worker.ws_url + path, additional_headers=headers or {}, open_timeout=10):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_websocket_upgrade_needs_a_valid_credential(worker):
    path = "/api/jobs/nosuchjob/ws"
    assert _ws_status(worker, path) == 401
    assert _ws_status(worker, path + "?token=garbage") == 401
    assert _ws_status(worker, path + f"?token={user_token('alice', ttl_s=-3600)}") == 401
    assert _ws_status(worker, path + f"?token={_alg_none_token('alice')}") == 401
    assert _ws_status(worker, path, {"X-API-Key": "wrong"}) == 401
    assert _ws_status(worker, path + f"?token={user_token('alice')}&token={user_token('alice')}") == 401
    assert _ws_status(worker, path + f"?token={user_token('alice')}", {"X-API-Key": SERVER_KEY}) == 401
    assert _ws_status(worker, path + f"?token={SERVER_KEY}") == 401  # a key never travels in a URL
    # A queue token acts for no user: refused before the object is asked, in the URL or in a header.
    assert _ws_status(worker, path + f"?token={queue_token()}") == 403
    assert _ws_status(worker, path, _bearer(queue_token())) == 403
    assert _ws_status(worker, path, {**_bearer(queue_token()), "X-User-Id": "alice"}) == 403
    assert _ws_status(worker, path + f"?token={queue_token(ttl_s=-3600)}") == 401
    assert _ws_status(worker, path + f"?token={queue_token(secret=SECRETS['USER_TOKEN_SECRET'])}") == 401
    # A server key names the user whose job it opens, as on every user route.
    assert _ws_status(worker, path, {"X-API-Key": SERVER_KEY}) == 400
    assert _ws_status(worker, path, {"X-API-Key": SERVER_KEY, "X-User-Id": "no/such"}) == 400
    # Valid credentials reach the user's object, which does not know the job.
    assert _ws_status(worker, path + f"?token={user_token('alice')}") == 404
    assert _ws_status(worker, path, {"X-API-Key": SERVER_KEY, "X-User-Id": "alice"}) == 404


def test_missing_secrets_are_named_not_crashed(tmp_path):
    from tests.conftest import worker_env
    from tests.worker_process import worker as make_worker_process

    env = worker_env(API_KEYS="", USER_TOKEN_SECRET="", LOG_LEVEL="INFO")
    with make_worker_process(tmp_path / "w", env) as w, httpx.Client(base_url=w.base_url) as c:
        assert c.get("/health").status_code == 200
        r = c.get("/api/export/jobs", headers={"X-API-Key": "anything", "X-User-Id": "alice"})
        assert r.status_code == 500 and r.json() == {
            "error": "Server misconfigured: secret API_KEYS is not set", "code": "config_error"}
        r = c.get("/api/export/jobs", headers={"Authorization": f"Bearer {user_token('alice')}"})
        assert r.status_code == 500 and "API_KEYS" in r.json()["error"]
        assert _ws_status(w, f"/api/jobs/j/ws?token={user_token('alice')}") == 500
        log = w.log_text()
    # Named at startup, before any request needed them.
    assert "secret API_KEYS is not set" in log and "secret USER_TOKEN_SECRET is not set" in log
    assert "secret R2_ACCESS_KEY_ID is not set" not in log  # optional
