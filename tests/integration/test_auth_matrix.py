"""Every route against every kind of credential (API.md, "Identity and auth").

ROUTES is the one table to extend when a route is added: its kind says which credentials it
takes, and `ok` is what it answers a valid caller with the request given here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import SECRETS, SERVER_KEY, user_token

USER, SERVER, CALLBACK, PUBLIC = "user", "server", "callback", "public"
OVERLAY = {"project_id": 1, "input_key": "working_videos/none.mp4",
           "params": {"highlight_regions": [], "effect_type": "blur"}}

ROUTES = [
    # (method, path, json body, kind, status a valid caller gets)
    ("GET", "/health", None, PUBLIC, 200),
    ("GET", "/openapi.json", None, PUBLIC, 200),
    ("POST", "/api/auth/token", {"user_id": "alice", "ttl_s": 600}, SERVER, 200),
    ("POST", "/api/export/overlay/start", OVERLAY, USER, 400),  # input object absent: input_not_found
    ("GET", "/api/export/status/nosuchjob", None, USER, 404),
    ("GET", "/api/export/overlay/status/nosuchjob", None, USER, 404),
    ("GET", "/api/export/jobs", None, USER, 200),
    ("POST", "/api/export/jobs/nosuchjob/cancel", None, USER, 404),
    ("GET", "/api/storage/presigned-url?key=final_videos/a.mp4", None, USER, 200),
    ("POST", "/api/storage/upload-url", {"key": "working_videos/a.mp4"}, USER, 200),
    ("GET", "/api/downloads", None, USER, 200),
    ("POST", "/api/runpod/callback/nosuchjob", {"status": "progress", "progress": 1}, CALLBACK, 401),
    ("POST", "/api/jobs/nosuchjob/do", {"status": "progress", "progress": 1}, CALLBACK, 401),
    # The encode queue: rows go to one queue, the rest ask another that stays empty.
    ("POST", "/api/jobs?queue=auth-matrix", {"file_name": "a.mp4"}, SERVER, 201),
    ("GET", "/api/jobs/claim?queue=auth-matrix-empty", None, SERVER, 404),
    ("POST", "/api/jobs/claim?queue=auth-matrix-empty", None, SERVER, 404),
    ("GET", "/api/jobs?queue=auth-matrix-empty", None, SERVER, 200),
    ("GET", "/api/jobs/stats?queue=auth-matrix-empty", None, SERVER, 200),
    ("GET", "/api/jobs/1?queue=auth-matrix-empty", None, SERVER, 404),
    ("POST", "/api/jobs/1/heartbeat?queue=auth-matrix-empty", None, SERVER, 404),
    ("POST", "/api/jobs/1/finish?queue=auth-matrix-empty", None, SERVER, 404),
    ("POST", "/api/jobs/1/fail?queue=auth-matrix-empty", {"error": "x"}, SERVER, 404),
    ("POST", "/api/jobs/1/requeue?queue=auth-matrix-empty", None, SERVER, 404),
    ("DELETE", "/api/jobs/1?queue=auth-matrix-empty", None, SERVER, 404),
]


def _signed_token(claims: str) -> str:
    """A token signed with the right secret whose claims are exactly `claims` (NaN and all)."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(claims.encode())
    sig = hmac.new(SECRETS["USER_TOKEN_SECRET"].encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


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
}
BAD = {"malformed_authorization", "empty_bearer", "wrong_key", "wrong_bearer_key", "expired_token",
       "token_other_secret", "alg_none_token", "token_sub_newline", "token_exp_1e300", "token_exp_infinity",
       "token_exp_nan", "token_nbf_nan", "token_for_a_year", "valid_key_and_empty_bearer", "valid_key_and_junk_bearer",
       "valid_key_and_valid_token"}


def expected(kind: str, ok: int, credential: str) -> int:
    if kind == PUBLIC:
        return ok
    if kind == CALLBACK:
        return 401  # only the signature counts; API keys and tokens do not replace it
    if credential == "none" or credential in BAD:
        return 401
    if kind == SERVER and credential == "valid_token":
        return 403
    return ok


@pytest.mark.parametrize("credential", list(CREDENTIALS))
@pytest.mark.parametrize(("method", "path", "body", "kind", "ok"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_route_credentials(client: httpx.Client, method, path, body, kind, ok, credential):
    r = client.request(method, path, json=body, headers=CREDENTIALS[credential])
    assert r.status_code == expected(kind, ok, credential), r.text
    if r.status_code >= 400:
        err = r.json()
        assert set(err) >= {"error", "code"} and isinstance(err["error"], str)
        assert "Traceback" not in r.text
        for secret_value in (SERVER_KEY, "test-user-token-secret"):
            assert secret_value not in r.text


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
    # Valid credentials reach the (empty) object, which does not know the job.
    assert _ws_status(worker, path + f"?token={user_token('alice')}") == 404
    assert _ws_status(worker, path, {"X-API-Key": SERVER_KEY}) == 404


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
