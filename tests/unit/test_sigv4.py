"""`storage.sigv4.presign_url` is byte-for-byte botocore's S3 presigner (offline; botocore is test-only).

botocore reads its clock through `botocore.auth.get_current_datetime()` (a naive UTC datetime, in
botocore >= 1.34's auth.py), so that name is patched to freeze time. The client gets explicit
credentials, region and endpoint, and every AWS_* variable is cleared with AWS_CONFIG_FILE and
AWS_SHARED_CREDENTIALS_FILE pointing at /dev/null, so nothing on the machine can change its output.

No key character class differs: keys are arbitrary unicode (without lone surrogates, which cannot be
UTF-8 encoded by either side), including '/', '~', '%', '+', space, '?', '#', '&', '=', '@', ':',
`.`/`..` segments, `//` and a leading '/'.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import botocore.auth
import botocore.session
import pytest
from botocore.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.content_types import disposition as attachment_disposition
from storage.sigv4 import MAX_EXPIRES_S, presign_url

ACCOUNT = "0123456789abcdef0123456789abcdef"
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OPERATIONS = {"GET": "get_object", "PUT": "put_object", "HEAD": "head_object", "DELETE": "delete_object"}


@pytest.fixture(scope="module", autouse=True)
def _isolated_aws_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        import os

        for name in list(os.environ):
            if name.startswith("AWS_"):
                mp.delenv(name)
        mp.setenv("AWS_CONFIG_FILE", "/dev/null")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        _session.cache_clear()
        _client.cache_clear()
        yield
        _session.cache_clear()
        _client.cache_clear()


@functools.cache
def _session() -> botocore.session.Session:
    # One session for all clients: it caches the loaded service models, which makes clients cheap.
    return botocore.session.Session()


@functools.lru_cache(maxsize=64)
def _client(account: str, region: str, akid: str, secret: str):
    return _session().create_client(
        "s3", region_name=region, endpoint_url=f"https://{account}.r2.cloudflarestorage.com",
        aws_access_key_id=akid, aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def botocore_url(*, method: str, account_id: str, bucket: str, key: str, access_key_id: str,
                 secret_access_key: str, expires_in: int, now: datetime, region: str = "auto",
                 content_type: str | None = None, response_content_disposition: str | None = None) -> str:
    naive_utc = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    params = {"Bucket": bucket, "Key": key}
    if content_type is not None:
        params["ContentType"] = content_type
    if response_content_disposition is not None:
        params["ResponseContentDisposition"] = response_content_disposition
    client = _client(account_id, region, access_key_id, secret_access_key)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: naive_utc):
        return client.generate_presigned_url(OPERATIONS[method], Params=params, ExpiresIn=expires_in)


def both(**kw) -> tuple[str, str]:
    return presign_url(**kw), botocore_url(**kw)


# Characters with a special meaning somewhere in a URL or in S3/SigV4 encoding, mixed with ordinary ones.
SPECIAL = " /~%+=&?#@:;,$!'()*[]{}|\\^`<>\"._-\t\n\x00\x7féü€😀\u00a0\u2028"
keys = st.one_of(
    st.text(alphabet=st.sampled_from(SPECIAL + "aZ09"), min_size=1, max_size=40),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60),
    st.lists(st.sampled_from(["", ".", "..", "a b", "c+d", "e%2Ff", "x~y"]), min_size=1, max_size=5)
    .map("/".join).filter(bool),
)
moments = st.one_of(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31)),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 12, 30),
                 timezones=st.builds(timezone, st.integers(-23 * 60, 23 * 60).map(lambda m: timedelta(minutes=m)))),
)
expiries = st.integers(1, MAX_EXPIRES_S)
# Header values: printable text plus tab, runs of spaces; control characters are rejected by presign_url.
content_types = st.one_of(
    st.none(),
    st.sampled_from(["video/mp4", "application/octet-stream", "text/plain; charset=utf-8"]),
    st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t"), max_size=40),
)


@settings(max_examples=600, deadline=None)
@given(key=keys, method=st.sampled_from(["GET", "PUT"]), expires_in=expiries, now=moments)
def test_matches_botocore_for_any_key(key: str, method: str, expires_in: int, now: datetime) -> None:
    ours, theirs = both(method=method, account_id=ACCOUNT, bucket="reel-ballers", key=key, access_key_id=AKID,
                        secret_access_key=SECRET, expires_in=expires_in, now=now)
    assert ours == theirs


@settings(max_examples=200, deadline=None)
@given(key=keys, content_type=content_types, expires_in=expiries, now=moments)
def test_matches_botocore_for_put_with_content_type(key: str, content_type: str | None, expires_in: int,
                                                     now: datetime) -> None:
    ours, theirs = both(method="PUT", account_id=ACCOUNT, bucket="reel-ballers", key=key, access_key_id=AKID,
                        secret_access_key=SECRET, expires_in=expires_in, now=now, content_type=content_type)
    assert ours == theirs
    assert ("content-type%3Bhost" in ours) == (content_type is not None)


@settings(max_examples=200, deadline=None)
@given(key=keys, expires_in=expiries, now=moments)
def test_matches_botocore_for_get_as_attachment(key: str, expires_in: int, now: datetime) -> None:
    # The disposition the Worker asks R2 for, built from the key (quotes, UTF-8 and all).
    disposition = attachment_disposition(key, inline=False)
    ours, theirs = both(method="GET", account_id=ACCOUNT, bucket="reel-ballers", key=key, access_key_id=AKID,
                        secret_access_key=SECRET, expires_in=expires_in, now=now,
                        response_content_disposition=disposition)
    assert ours == theirs
    assert "response-content-disposition=attachment" in ours


@settings(max_examples=200, deadline=None)
@given(
    account=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    bucket=st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
    region=st.sampled_from(["auto", "us-east-1", "eu", "wnam"]),
    akid=st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=32),
    secret=st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=48),
    method=st.sampled_from(sorted(OPERATIONS)),
    key=keys, expires_in=expiries, now=moments,
)
def test_matches_botocore_for_any_credentials(account: str, bucket: str, region: str, akid: str, secret: str,
                                              method: str, key: str, expires_in: int, now: datetime) -> None:
    ours, theirs = both(method=method, account_id=account, bucket=bucket, key=key, access_key_id=akid,
                        secret_access_key=secret, expires_in=expires_in, now=now, region=region)
    assert ours == theirs


# Fixed vectors, produced by botocore 1.44.5 with the settings above: they pin the output even if a
# future botocore changed, and document what the URLs look like.
VECTOR_HEAD = "https://acct.r2.cloudflarestorage.com/bkt/"
VECTOR_AUTH = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240102%2Fauto%2Fs3%2Faws4_request"
               "&X-Amz-Date=20240102T030405Z&X-Amz-Expires=60")


@pytest.mark.parametrize(("method", "key", "content_type", "expected"), [
    ("GET", "a/b c+d~e%f", None, "a/b%20c%2Bd~e%25f?" + VECTOR_AUTH + "&X-Amz-SignedHeaders=host"
     "&X-Amz-Signature=c5cc8a4213fc5b4880e391e85d0a44c1c21bcbfc8a34380b00bddb84d9deab9c"),
    ("GET", "é/ü", None, "%C3%A9/%C3%BC?" + VECTOR_AUTH + "&X-Amz-SignedHeaders=host"
     "&X-Amz-Signature=1ff1f4de7e1bc8f00aeb1be1f9b5ed4159b7b90e62d2fb8bcf01e6372c3d50d4"),
    ("GET", "a?b#c", None, "a%3Fb%23c?" + VECTOR_AUTH + "&X-Amz-SignedHeaders=host"
     "&X-Amz-Signature=da6219a6b327a745a2b5925a1780463d74db12a3cf4669da72f38fdf1ddac482"),
    ("PUT", "k", None, "k?" + VECTOR_AUTH + "&X-Amz-SignedHeaders=host"
     "&X-Amz-Signature=3821c7e6a832fc5ca7d61c27ca2b8df55a5cda98813b9e29166691bdd2949707"),
    ("PUT", "k", "video/mp4", "k?" + VECTOR_AUTH + "&X-Amz-SignedHeaders=content-type%3Bhost"
     "&X-Amz-Signature=95551fc4817a983511438209b789bd224c6332f12ca2712a8f37e0f774f36471"),
])
def test_fixed_vectors(method: str, key: str, content_type: str | None, expected: str) -> None:
    kw = dict(method=method, account_id="acct", bucket="bkt", key=key, access_key_id="AKID",
              secret_access_key="SECRET", expires_in=60, now=datetime(2024, 1, 2, 3, 4, 5),
              content_type=content_type)
    assert presign_url(**kw) == VECTOR_HEAD + expected
    assert botocore_url(**kw) == VECTOR_HEAD + expected


def test_aware_and_naive_now_agree_and_lowercase_method_and_account() -> None:
    kw = dict(bucket="bkt", key="k", access_key_id="AKID", secret_access_key="SECRET", expires_in=60)
    naive = presign_url(method="GET", account_id="acct", now=datetime(2024, 1, 2, 3, 4, 5), **kw)
    aware = presign_url(method="get", account_id="ACCT",
                        now=datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), **kw)
    assert naive == aware


BASE = dict(method="GET", account_id=ACCOUNT, bucket="b", key="k", access_key_id=AKID,
            secret_access_key=SECRET, now=datetime(2024, 1, 1))


@pytest.mark.parametrize("expires_in", [1, 3600, MAX_EXPIRES_S])
def test_expiry_bounds_accepted(expires_in: int) -> None:
    assert f"X-Amz-Expires={expires_in}&" in presign_url(**BASE, expires_in=expires_in)


@pytest.mark.parametrize("expires_in", [0, -1, MAX_EXPIRES_S + 1, 10**9, True, 60.0, "60"])
def test_expiry_out_of_bounds_rejected(expires_in: object) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        presign_url(**BASE, expires_in=expires_in)  # type: ignore[arg-type]


@pytest.mark.parametrize("override", [
    {"key": ""}, {"bucket": ""}, {"key": "\ud800"}, {"account_id": ""}, {"account_id": "evil.com/x"},
    {"method": "POST"}, {"content_type": "video/mp4"}, {"method": "PUT", "content_type": "a\r\nX-Injected: 1"},
    {"method": "PUT", "response_content_disposition": "attachment"},
])
def test_bad_arguments_rejected(override: dict) -> None:
    with pytest.raises(ValueError):
        presign_url(**{**BASE, "expires_in": 60, **override})
