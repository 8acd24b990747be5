"""Storage key rules, in one place: every route that takes a key goes through `user_key`.

Clients name objects relative to their own prefix (`working_videos/x.mp4` is R2 key
`{user_id}/working_videos/x.mp4`). Anything that could escape or confuse that prefix is refused.
"""

from __future__ import annotations

import unicodedata

MAX_KEY_BYTES = 1024


class InvalidKey(ValueError):  # noqa: N818 - reads as what it is
    """The key is not an acceptable relative storage key; the message says why."""


def check_relative(key: object) -> str:
    """The key itself if it is a clean relative key; raises InvalidKey otherwise."""
    if not isinstance(key, str) or key == "":
        raise InvalidKey("key must be a non-empty string")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(f"key is longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise InvalidKey("key must be relative (no leading '/')")
    if "\\" in key:
        raise InvalidKey("key must not contain backslashes")
    if any(unicodedata.category(ch) in ("Cc", "Cf") or ch in "\u2028\u2029" for ch in key):
        raise InvalidKey("key must not contain control characters")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey("key must not contain empty, '.' or '..' segments")
    return key


def user_key(user_id: str, key: object) -> str:
    """The full R2 key of a caller's relative key; with the prefix it must fit R2's 1024 bytes."""
    full = f"{user_id}/{check_relative(key)}"
    if len(full.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(f"key is longer than {MAX_KEY_BYTES} bytes with the user prefix")
    return full


def relative_key(user_id: str, key: object) -> str:
    """A key that may be relative or already carry the user's prefix, as a clean relative key.

    Used for keys reported back by GPU workers; a key under another user's prefix is refused.
    """
    if isinstance(key, str) and key.startswith(f"{user_id}/"):
        key = key[len(user_id) + 1 :]
    return check_relative(key)


# Keys the service writes itself: clients may read them but never upload over them.
RESERVED_FOR_WRITES = frozenset({"database.sqlite"})


def user_upload_key(user_id: str, key: object) -> str:
    """The full R2 key a client may upload to; the service's own objects are refused."""
    if check_relative(key) in RESERVED_FOR_WRITES:
        raise InvalidKey("key is reserved for the service's own data")
    return user_key(user_id, key)
