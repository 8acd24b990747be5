"""Which types an object may be stored as, and how each is served.

The Worker's origin also serves the pages, where an operator's tab holds a queue token: an object
must never render there as a page. So uploads are limited to what the editor stores (videos, the
raster images it shows, SQLite files, opaque bytes), an upload URL is bound to one of those types,
and every object is served with `nosniff` and a sandbox CSP; only media the frontend plays or shows
(`video/*`, raster images) is served inline, everything else as an attachment. SVG is not a raster
image: it can carry script, so it is neither accepted nor ever served inline.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from security_headers import NOSNIFF

DEFAULT_TYPE = "application/octet-stream"
# The raster images the frontend shows: uploaded, and served inline like video/*.
_INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/avif"})
# Exact types an upload may have, besides any video/*.
_UPLOAD_EXACT = _INLINE_IMAGES | {"application/vnd.sqlite3", "application/x-sqlite3", DEFAULT_TYPE}
# The type an upload URL is bound to when the request names none, by the key's extension.
BY_EXTENSION = {
    "mp4": "video/mp4", "m4v": "video/x-m4v", "mov": "video/quicktime", "webm": "video/webm",
    "mkv": "video/x-matroska", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
    "webp": "image/webp", "gif": "image/gif", "avif": "image/avif",
    "sqlite": "application/vnd.sqlite3", "sqlite3": "application/vnd.sqlite3", "db": "application/vnd.sqlite3",
}
UPLOAD_TYPES_TEXT = ", ".join(["video/*", *sorted(_UPLOAD_EXACT)])
# RFC 9110 token characters: what a type and a subtype are made of.
MIME_CHARS = r"[A-Za-z0-9!#$&^_.+-]+"
_ESSENCE = re.compile(rf"[ \t]*({MIME_CHARS})/({MIME_CHARS})[ \t]*(?:;.*)?", re.DOTALL)
# Besides nosniff, what every object response carries: never a page with script.
INLINE_CSP = "sandbox"
ATTACHMENT_CSP = "default-src 'none'; sandbox"


class TypeNotAllowed(ValueError):  # noqa: N818 - reads as what it is
    """The content type is not one an upload may have; the message names the accepted ones."""


def essence(value: str | None) -> str | None:
    """The lower-case `type/subtype` of a Content-Type value (parameters dropped); None if malformed."""
    match = _ESSENCE.fullmatch(value or "")
    return f"{match.group(1)}/{match.group(2)}".lower() if match else None


def is_upload_type(ctype: str) -> bool:
    return ctype.startswith("video/") or ctype in _UPLOAD_EXACT


def upload_type(requested: str | None, key: str) -> str:
    """The type an upload URL for `key` is bound to: the requested one, or one guessed from the key."""
    if requested is None:
        name = file_name(key)
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        return BY_EXTENSION.get(extension, DEFAULT_TYPE)
    ctype = essence(requested)
    if ctype is None or not is_upload_type(ctype):
        raise TypeNotAllowed(f"content_type {requested!r} is not accepted; uploads may be {UPLOAD_TYPES_TEXT}")
    return ctype


def is_inline(ctype: str | None) -> bool:
    """Whether an object of this stored type is served inline (media the frontend plays or shows)."""
    value = essence(ctype) or ""
    return value.startswith("video/") or value in _INLINE_IMAGES


def guessed_inline(key: str) -> bool:
    """Whether an object under `key` is served inline, judged from its name alone (SigV4 URLs)."""
    return is_inline(upload_type(None, key))


def file_name(key: str) -> str:
    """The key's last segment, as given (for `filename*`)."""
    return key.rsplit("/", 1)[-1] or "download"


def disposition(key: str, inline: bool) -> str:
    """A Content-Disposition with a safe ASCII `filename` (at most 150 characters) and the real name in
    `filename*` (RFC 6266)."""
    name = file_name(key)
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", name)[:150].strip() or "download"
    encoded = quote(name, safe="")
    return f"{'inline' if inline else 'attachment'}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"


def object_headers(key: str, stored_type: str | None) -> dict[str, str]:
    """The headers an object response carries whatever its status: type, nosniff, CSP, disposition.

    A stored type uploads may not have (an object stored before these rules, or by another way in) is
    served as opaque bytes: a `text/javascript` object must not be a script `<script src>` can load."""
    inline = is_inline(stored_type)
    served = stored_type if stored_type and is_upload_type(essence(stored_type) or "") else DEFAULT_TYPE
    return {
        "Content-Type": served,
        **NOSNIFF,
        "Content-Security-Policy": INLINE_CSP if inline else ATTACHMENT_CSP,
        "Content-Disposition": disposition(key, inline),
    }
