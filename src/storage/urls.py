"""Which kind of URL hands a client (or a GPU worker) access to an object.

With R2 S3 credentials configured, a SigV4 presigned URL straight to R2; without them (local
development), a Worker-signed URL served by `/api/storage/object/{key}`. Either way a PUT URL is
bound to one content type (`storage.content_types`), and a SigV4 GET URL of an object that is not
playable media asks R2 to serve it as an attachment (`response-content-disposition`); the
Worker-signed route decides that from the stored type itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

from settings import Settings
from storage import content_types, signed_urls, sigv4

MAX_EXPIRES_S = sigv4.MAX_EXPIRES_S  # both kinds of URL live at most SigV4's 7 days


def s3_configured(settings: Settings) -> bool:
    return bool(settings.r2_account_id and settings.r2_bucket_name and settings.has_secret("R2_ACCESS_KEY_ID")
                and settings.has_secret("R2_SECRET_ACCESS_KEY"))


def object_url(settings: Settings, base_url: str, full_key: str, method: str, expires_in: int,
               now: float, content_type: str | None = None) -> tuple[str, datetime]:
    """A URL allowing `method` on `full_key` for `expires_in` seconds, and when it expires.

    A PUT needs the `content_type` the upload is bound to (see `content_types.upload_type`).
    """
    if not 1 <= expires_in <= MAX_EXPIRES_S:
        raise ValueError(f"expires_in must be between 1 and {MAX_EXPIRES_S}")
    if (method.upper() == "PUT") != (content_type is not None):
        raise ValueError("a PUT URL is bound to a content type, and only a PUT URL is")
    expires_at = datetime.fromtimestamp(int(now) + expires_in, tz=UTC)
    if s3_configured(settings):
        url = sigv4.presign_url(
            method=method, account_id=settings.r2_account_id, bucket=settings.r2_bucket_name, key=full_key,
            access_key_id=settings.secret("R2_ACCESS_KEY_ID"),
            secret_access_key=settings.secret("R2_SECRET_ACCESS_KEY"),
            expires_in=expires_in, now=datetime.fromtimestamp(int(now), tz=UTC), content_type=content_type,
            response_content_disposition=None if method != "GET" or content_types.guessed_inline(full_key)
            else content_types.disposition(full_key, inline=False),
        )
        return url, expires_at
    secret = settings.secret("URL_SIGNING_SECRET")
    return signed_urls.sign(secret, base_url, full_key, method, int(now) + expires_in, content_type), expires_at
