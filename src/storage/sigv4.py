"""AWS Signature V4 query-string presigning for R2's S3 endpoint (stdlib only; botocore is too big for a Worker).

`presign_url` produces the same URL, byte for byte, as botocore's

    client = session.create_client("s3", region_name=region,
        endpoint_url=f"https://{account_id}.r2.cloudflarestorage.com",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    client.generate_presigned_url("get_object" | "put_object",
        Params={"Bucket": bucket, "Key": key[, "ContentType": content_type]}, ExpiresIn=expires_in)

with the clock at `now` and no session token (tests/unit/test_sigv4.py checks this with hypothesis over
arbitrary unicode keys). The botocore details matched:

- Path: `/{bucket}/{key}`, the key percent-encoded as UTF-8 with only unreserved characters, `/` and `~`
  left alone (botocore's `{Key+}` greedy label). `.`/`..` segments and `//` are kept as they are: S3
  signing does not normalise the path.
- Query: the five `X-Amz-*` parameters in this (already sorted) order, values encoded with `-_.~` safe,
  so the credential's slashes become `%2F` and `content-type;host` becomes `content-type%3Bhost`;
  `X-Amz-Signature` appended last and left out of the canonical query string.
- Signed headers: `host` (lowercase, no port), plus `content-type` when a PUT carries one, which the
  uploader must then send unchanged. Header values are canonicalised like botocore (`" ".join(v.split())`).
- Payload hash: the literal `UNSIGNED-PAYLOAD`.

No key character class differs from botocore. Keys that cannot be UTF-8 encoded (lone surrogates) are
rejected (botocore fails too), and so is the empty key (botocore's parameter validation rejects it).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote

MAX_EXPIRES_S = 7 * 24 * 3600  # SigV4's own limit: a presigned URL lives at most 7 days
_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _encode(value: str, safe: str = "") -> str:
    # quote() always keeps A-Z a-z 0-9 "_.-~" (RFC 3986 unreserved) and encodes the rest as UTF-8 %XX
    # uppercase: exactly SigV4's UriEncode. Encoding first makes lone surrogates raise (a ValueError).
    return quote(value.encode("utf-8"), safe=safe)


def presign_url(*, method: str, account_id: str, bucket: str, key: str, access_key_id: str,
                secret_access_key: str, expires_in: int, now: datetime, region: str = "auto",
                content_type: str | None = None, response_content_disposition: str | None = None) -> str:
    """A SigV4 query-presigned URL allowing `method` on `bucket/key` for `expires_in` seconds after `now`.

    `now` may be naive (taken as UTC) or aware. `content_type` is only for PUT; it is then a signed
    header, so the upload must send exactly that `Content-Type`. `response_content_disposition` (GET
    only) is S3's response-header override: R2 answers with that Content-Disposition. Raises ValueError for an `expires_in`
    outside 1..604800, an empty key or bucket, an account id that is not a hostname label, a method
    other than GET/HEAD/PUT/DELETE, or a content type on a non-PUT or containing control characters.
    """
    method = method.upper()
    if method not in _METHODS:
        raise ValueError(f"unsupported method {method!r}")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= MAX_EXPIRES_S:
        raise ValueError(f"expires_in must be an integer between 1 and {MAX_EXPIRES_S}")
    if not key or not bucket:
        raise ValueError("bucket and key must be non-empty")
    # Hostnames are case-insensitive and botocore signs the lowercased host, so lowercase it here too;
    # anything but letters, digits and '-' would change which host the URL points at.
    account_id = account_id.lower()
    if not account_id or not set(account_id) <= _HOST_CHARS:
        raise ValueError("account_id must be letters, digits and '-'")
    headers = {"host": f"{account_id}.r2.cloudflarestorage.com"}
    if content_type is not None:
        if method != "PUT":
            raise ValueError("content_type is only signed for PUT")
        if any(c < " " and c != "\t" or c == "\x7f" for c in content_type):
            raise ValueError("content_type contains control characters")
        # SigV4 "Trimall": strip and collapse whitespace runs (botocore uses str.split() exactly so).
        headers["content-type"] = " ".join(content_type.split())
    if response_content_disposition is not None and method != "GET":
        raise ValueError("response_content_disposition is only for GET")

    if now.tzinfo is not None:
        now = now.astimezone(UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    signed_headers = ";".join(sorted(headers))
    path = f"/{_encode(bucket)}/{_encode(key, safe='/~')}"
    # The canonical query is sorted (upper case before lower); the URL keeps botocore's order, the
    # response overrides first, so both are byte for byte the same.
    overrides = [] if response_content_disposition is None else [
        f"response-content-disposition={_encode(response_content_disposition)}"]
    auth = [f"{name}={_encode(value)}" for name, value in (
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{access_key_id}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires_in)),
        ("X-Amz-SignedHeaders", signed_headers),
    )]
    query = "&".join(overrides + auth)
    canonical_query = "&".join(sorted(overrides + auth))
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    canonical_request = "\n".join(
        [method, path, canonical_query, canonical_headers, signed_headers, "UNSIGNED-PAYLOAD"])
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])

    signing_key = _hmac(f"AWS4{secret_access_key}".encode(), amz_date[:8])
    for part in (region, "s3", "aws4_request"):
        signing_key = _hmac(signing_key, part)
    signature = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"https://{headers['host']}{path}?{query}&X-Amz-Signature={signature}"
