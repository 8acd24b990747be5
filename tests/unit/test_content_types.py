"""`storage.content_types`: what an upload may be, and how each stored type is served."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage import content_types as ct


@pytest.mark.parametrize(("value", "expected"), [
    ("video/mp4", "video/mp4"), ("Video/MP4; codecs=avc1", "video/mp4"), ("  image/png ", "image/png"),
    ("text/html;charset=utf-8", "text/html"), ("", None), (None, None), ("video", None), ("video/", None),
    ("/mp4", None), ("video/mp4/x", None), ("vi deo/mp4", None), ("video/mp4\r\nX: 1", None),
])
def test_essence(value, expected):
    assert ct.essence(value) == expected


@pytest.mark.parametrize("requested", [
    "video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "image/png", "image/jpeg", "image/webp",
    "image/gif", "image/avif", "application/vnd.sqlite3", "application/x-sqlite3", "application/octet-stream",
])
def test_the_editors_types_are_accepted(requested):
    assert ct.upload_type(requested, "k") == requested


@pytest.mark.parametrize("requested", [
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/javascript", "application/javascript",
    "application/json", "text/plain", "application/pdf", "text/xml", "multipart/form-data", "not a type", "",
])
def test_everything_else_is_refused_with_the_accepted_list(requested):
    with pytest.raises(ct.TypeNotAllowed, match="video/\\*"):
        ct.upload_type(requested, "a.mp4")


@pytest.mark.parametrize(("key", "expected"), [
    ("a.mp4", "video/mp4"), ("dir.x/A.MOV", "video/quicktime"), ("a.webm", "video/webm"), ("a.jpeg", "image/jpeg"),
    ("db/backup.sqlite", "application/vnd.sqlite3"), ("a.html", "application/octet-stream"),
    ("a.svg", "application/octet-stream"), ("dir.mp4/noext", "application/octet-stream"), (".mp4", "video/mp4"),
])
def test_a_missing_type_is_guessed_from_the_key_and_never_a_page(key, expected):
    assert ct.upload_type(None, key) == expected


def test_only_video_and_raster_images_are_inline():
    for inline in ("video/mp4", "video/anything", "image/png", "IMAGE/JPEG; q=1", "image/avif"):
        assert ct.is_inline(inline), inline
    for attachment in ("image/svg+xml", "text/html", "application/octet-stream", "application/vnd.sqlite3",
                       "", None, "image/x-icon", "garbage"):
        assert not ct.is_inline(attachment), attachment


@given(st.text(max_size=80))
def test_any_key_gives_a_safe_disposition(key):
    value = ct.disposition(key, inline=False)
    plain = value.split('filename="', 1)[1].split('"', 1)[0]
    assert value.startswith("attachment; filename=\"") and plain
    assert all(c.isascii() and (c.isalnum() or c in "._ -") for c in plain)
    assert value.isascii() and "\r" not in value and "\n" not in value
    assert value.count('"') == 2  # the name cannot close its quotes early


def test_object_headers():
    video = ct.object_headers("alice/final_videos/goal.mp4", "video/mp4")
    assert video == {"Content-Type": "video/mp4", "X-Content-Type-Options": "nosniff",
                     "Content-Security-Policy": "sandbox",
                     "Content-Disposition": "inline; filename=\"goal.mp4\"; filename*=UTF-8''goal.mp4"}
    page = ct.object_headers("alice/p.html", "text/html")
    # A type uploads may not have is served as opaque bytes: never a script or stylesheet the pages could load.
    assert page["Content-Type"] == "application/octet-stream"
    assert page["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert ct.object_headers("alice/a.js", "text/javascript; charset=utf-8")["Content-Type"] == "application/octet-stream"
    assert ct.object_headers("alice/i.png", "image/png")["Content-Type"] == "image/png"
    assert page["Content-Disposition"].startswith("attachment;")
    assert ct.object_headers("alice/x", None)["Content-Type"] == "application/octet-stream"
