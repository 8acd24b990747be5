"""Key rules and Worker-signed URLs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage import keys, signed_urls


@pytest.mark.parametrize("key", ["/a", "a/../b", "..", ".", "a//b", "a/", "a\\b", "a\x00", "a\x7f", "a\u200bb",
                                 "a\u2028b", "", "x" * 1025, 5, None])
def test_bad_keys(key):
    with pytest.raises(keys.InvalidKey):
        keys.check_relative(key)


@pytest.mark.parametrize("key", ["a.mp4", "working_videos/x y+z~%.mp4", "ünïcode/🎥.mp4", "a..b/c.d", "x" * 900])
def test_good_keys(key):
    assert keys.user_key("alice", key) == f"alice/{key}"


def test_length_counts_the_prefix():
    assert keys.user_key("alice", "x" * 1018) == "alice/" + "x" * 1018  # exactly 1024 bytes
    with pytest.raises(keys.InvalidKey):
        keys.user_key("alice", "x" * 1019)
    with pytest.raises(keys.InvalidKey):
        keys.user_key("alice", "é" * 510)  # counted in UTF-8 bytes


def test_reported_keys_may_carry_the_prefix():
    assert keys.relative_key("alice", "alice/final_videos/x.mp4") == "final_videos/x.mp4"
    assert keys.relative_key("alice", "final_videos/x.mp4") == "final_videos/x.mp4"
    assert keys.relative_key("alice", "bob/x.mp4") == "bob/x.mp4"  # still inside alice's prefix
    with pytest.raises(keys.InvalidKey):
        keys.relative_key("alice", "alice/../bob/x.mp4")


@given(st.text(min_size=1, max_size=60))
def test_accepted_keys_never_leave_the_prefix(key):
    try:
        full = keys.user_key("alice", key)
    except keys.InvalidKey:
        return
    parts = full.split("/")
    assert parts[0] == "alice" and ".." not in parts and "" not in parts and len(full.encode()) <= keys.MAX_KEY_BYTES


def test_signed_urls():
    url = signed_urls.sign("s", "https://w/", "alice/a b.mp4", "get", 2000)
    assert url.startswith("https://w/api/storage/object/alice/a%20b.mp4?exp=2000&sig=")
    sig = url.split("sig=")[1]
    assert signed_urls.verify("s", "alice/a b.mp4", "GET", "2000", sig, 1999)
    assert signed_urls.verify("s", "alice/a b.mp4", "HEAD", "2000", sig, 1999)
    assert not signed_urls.verify("s", "alice/a b.mp4", "PUT", "2000", sig, 1999)
    assert not signed_urls.verify("s", "alice/a b.mp4", "GET", "2000", sig, 2001)  # expired
    assert not signed_urls.verify("s", "alice/a c.mp4", "GET", "2000", sig, 1999)
    assert not signed_urls.verify("t", "alice/a b.mp4", "GET", "2000", sig, 1999)
    assert not signed_urls.verify("s", "alice/a b.mp4", "GET", "2001", sig, 1999)
    assert not signed_urls.verify("s", "alice/a b.mp4", "GET", "-1", sig, 1999)
    assert not signed_urls.verify("s", "alice/a b.mp4", "GET", None, sig, 1999)


def test_a_put_url_is_bound_to_its_content_type():
    url = signed_urls.sign("s", "https://w/", "alice/a.mp4", "PUT", 2000, "video/mp4")
    assert "&ct=video%2Fmp4&sig=" in url
    sig = url.split("sig=")[1]
    assert signed_urls.verify("s", "alice/a.mp4", "PUT", "2000", sig, 1999, "video/mp4")
    for other in ("text/html", "video/mp4 ", "", None, 5):
        assert not signed_urls.verify("s", "alice/a.mp4", "PUT", "2000", sig, 1999, other)
    assert not signed_urls.verify("s", "alice/a.mp4", "GET", "2000", sig, 1999, "video/mp4")
    # A GET URL ignores a `ct` it was not signed with; a PUT URL cannot be made without one.
    get = signed_urls.sign("s", "https://w/", "alice/a.mp4", "GET", 2000).split("sig=")[1]
    assert signed_urls.verify("s", "alice/a.mp4", "GET", "2000", get, 1999, "text/html")
    with pytest.raises(ValueError):
        signed_urls.sign("s", "https://w/", "alice/a.mp4", "PUT", 2000)
    with pytest.raises(ValueError):
        signed_urls.sign("s", "https://w/", "alice/a.mp4", "GET", 2000, "video/mp4")


@pytest.mark.parametrize("exp", ["9" * 5000, "\u00b2", "\u0661\u0660", "2000\n", " 2000", "2e3", ""])
def test_signed_url_expiry_is_read_without_converting_what_is_not_a_short_decimal(exp):
    # No credential is needed to reach this check, so it must answer False, never raise.
    url = signed_urls.sign("s", "https://w/", "alice/a.mp4", "GET", 2000)
    assert not signed_urls.verify("s", "alice/a.mp4", "GET", exp, url.split("sig=")[1], 1999)
