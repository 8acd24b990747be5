"""The on-disk R2 binding of the stand-in runtime (`local/r2.py`)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from datetime import UTC, datetime, timedelta

import pytest

from local.ffi import JsBuffer, JsException
from local.http_objects import Headers, Request, Response
from local.r2 import JsArrayBuffer, LocalR2Bucket, R2Object, R2ObjectBody


@pytest.fixture
def root(tmp_path):
    return tmp_path / "r2" / "user-data"


@pytest.fixture
def bucket(root):
    b = LocalR2Bucket(root, "user-data")
    yield b
    b.close()


async def chunks(*parts: bytes, pause: float = 0.0):
    for part in parts:
        if pause:
            await asyncio.sleep(pause)
        yield part


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# -- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (b"\x00\x01binary\xff", b"\x00\x01binary\xff"),
    ("héllo wörld", "héllo wörld".encode()),
    (bytearray(b"array"), b"array"),
    (memoryview(b"view"), b"view"),
    (None, b""),
    (JsBuffer(b"from js"), b"from js"),
])
async def test_round_trip_values(bucket, value, expected):
    put = await bucket.put("k", value)
    assert isinstance(put, R2Object) and put.key == "k"
    assert put.size == len(expected) and put.etag == md5(expected) and put.httpEtag == f'"{md5(expected)}"'
    obj = await bucket.get("k")
    assert isinstance(obj, R2ObjectBody)
    buf = await obj.arrayBuffer()
    assert isinstance(buf, JsArrayBuffer)
    assert bytes(buf) == buf.to_bytes() == buf.to_py() == expected and len(buf) == len(expected)


async def test_text_json_bytes_readers(bucket):
    await bucket.put("j", '{"a": [1, "ü"]}')
    assert await (await bucket.get("j")).json() == {"a": [1, "ü"]}
    assert await (await bucket.get("j")).text() == '{"a": [1, "ü"]}'
    assert await (await bucket.get("j")).bytes() == '{"a": [1, "ü"]}'.encode()


async def test_stream_put_and_streamed_body(bucket):
    parts = [os.urandom(100_000), os.urandom(70_000), b"", os.urandom(5)]
    data = b"".join(parts)
    put = await bucket.put("big", chunks(*parts))
    assert put.size == len(data) and put.etag == md5(data)
    obj = await bucket.get("big")
    received = [chunk async for chunk in obj.body]
    assert len(received) > 1 and b"".join(received) == data
    assert obj.bodyUsed


async def test_body_is_a_stream_the_local_response_accepts(bucket):
    await bucket.put("video.mp4", b"x" * 200_000, httpMetadata={"contentType": "video/mp4"})
    obj = await bucket.get("video.mp4")
    headers = Headers()
    obj.writeHttpMetadata(headers)
    headers.set("etag", obj.httpEtag)
    response = Response(obj.body, headers=headers)
    assert response.headers.get("content-type") == "video/mp4"
    assert await response.bytes() == b"x" * 200_000


async def test_put_rejects_non_body_values(bucket):
    with pytest.raises(TypeError):
        await bucket.put("k", {"a": 1})
    with pytest.raises(TypeError):
        await bucket.put("k", chunks(b"ok", "not bytes"))  # type: ignore[arg-type]
    assert await bucket.head("k") is None


async def test_md5_option_checks_integrity(bucket):
    assert (await bucket.put("k", b"abc", md5=md5(b"abc"))).etag == md5(b"abc")
    assert (await bucket.put("k", b"abc", md5=hashlib.md5(b"abc").digest())).etag == md5(b"abc")
    with pytest.raises(ValueError, match="MD5"):
        await bucket.put("k", b"abd", md5=md5(b"abc"))
    assert await (await bucket.get("k")).bytes() == b"abc"


# -- metadata ------------------------------------------------------------------------------------

async def test_metadata(bucket):
    expiry = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    before = datetime.now(UTC) - timedelta(seconds=1)
    await bucket.put("m", b"data", customMetadata={"owner": "u1", "ünï": "cödé"},
                     httpMetadata={"contentType": "application/x-sqlite3", "cacheControl": "no-store",
                                   "contentDisposition": "attachment", "cacheExpiry": expiry})
    for obj in (await bucket.head("m"), await bucket.get("m")):
        assert obj.httpMetadata.contentType == obj.httpMetadata["contentType"] == "application/x-sqlite3"
        assert obj.httpMetadata.get("contentLanguage") is None and obj.httpMetadata.get("x", 1) == 1
        assert obj.httpMetadata.to_py() == {"contentType": "application/x-sqlite3", "cacheControl": "no-store",
                                            "contentDisposition": "attachment", "cacheExpiry": expiry}
        assert obj.customMetadata.to_py() == {"owner": "u1", "ünï": "cödé"} and obj.customMetadata.owner == "u1"
        with pytest.raises(AttributeError):
            _ = obj.httpMetadata.contentEncoding
        assert obj.uploaded.tzinfo is not None and before <= obj.uploaded <= datetime.now(UTC)
        assert obj.storageClass == "Standard" and len(obj.version) == 32
        assert bytes(obj.checksums.md5) == hashlib.md5(b"data").digest()
        assert obj.checksums.toJSON().md5 == md5(b"data")
    headers: dict[str, str] = {}
    (await bucket.head("m")).writeHttpMetadata(headers)
    assert headers == {"Content-Type": "application/x-sqlite3", "Cache-Control": "no-store",
                       "Content-Disposition": "attachment", "Expires": "Wed, 02 Jan 2030 03:04:05 GMT"}


async def test_metadata_from_headers_and_bad_metadata(bucket):
    obj = await bucket.put("h", b"", httpMetadata=Headers({"Content-Type": "text/csv", "X-Other": "1"}))
    assert obj.httpMetadata.to_py() == {"contentType": "text/csv"}
    with pytest.raises(TypeError):
        await bucket.put("h", b"", customMetadata={"n": 1})
    with pytest.raises(TypeError):
        await bucket.put("h", b"", httpMetadata={"contentType": 5})
    with pytest.raises(ValueError, match="metadata"):
        await bucket.put("h", b"", customMetadata={"big": "x" * 3000})


async def test_etag_and_version_change_on_overwrite(bucket):
    first = await bucket.put("k", b"one")
    second = await bucket.put("k", b"two")
    assert first.etag != second.etag and first.version != second.version
    assert (await bucket.head("k")).etag == second.etag
    same = await bucket.put("k", b"two")  # same bytes: R2's etag is the MD5, only the version changes
    assert same.etag == second.etag and same.version != second.version


async def test_missing_objects(bucket):
    assert await bucket.get("nope") is None
    assert await bucket.head("nope") is None
    assert await bucket.get("nope", onlyIf={"etagDoesNotMatch": "*"}) is None


# -- ranges --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("range_", "expected", "offset", "length"), [
    ({"offset": 2, "length": 3}, b"234", 2, 3),
    ({"offset": 7}, b"789", 7, 3),
    ({"length": 4}, b"0123", 0, 4),
    ({"suffix": 3}, b"789", 7, 3),
    ({"suffix": 50}, b"0123456789", 0, 10),
    ({"offset": 8, "length": 50}, b"89", 8, 2),
])
async def test_ranges(bucket, range_, expected, offset, length):
    await bucket.put("r", b"0123456789")
    obj = await bucket.get("r", range=range_)
    assert await obj.bytes() == expected
    assert obj.range.to_py() == {"offset": offset, "length": length} and obj.size == 10


@pytest.mark.parametrize("range_", [
    {"offset": -1}, {"offset": 11}, {"length": 0}, {"suffix": 0}, {"offset": 1.5}, {"suffix": 2, "offset": 1},
])
async def test_invalid_ranges_raise(bucket, range_):
    await bucket.put("r", b"0123456789")
    with pytest.raises((ValueError, TypeError)) as info:
        await bucket.get("r", range=range_)
    assert isinstance(info.value, JsException)


# -- conditional gets ----------------------------------------------------------------------------

async def test_only_if_on_get(bucket):
    put = await bucket.put("c", b"body")
    ok = await bucket.get("c", onlyIf={"etagMatches": put.etag})
    assert isinstance(ok, R2ObjectBody) and await ok.bytes() == b"body"
    future = datetime.now(UTC) + timedelta(hours=1)
    for failing in ({"etagMatches": "0" * 32}, {"etagDoesNotMatch": put.etag}, {"etagDoesNotMatch": "*"},
                    {"uploadedAfter": future}, {"uploadedBefore": datetime(2000, 1, 1, tzinfo=UTC)}):
        obj = await bucket.get("c", onlyIf=failing)
        assert type(obj) is R2Object and obj.etag == put.etag, failing
        assert not hasattr(obj, "body") and not hasattr(obj, "arrayBuffer")
    assert isinstance(await bucket.get("c", onlyIf={"uploadedBefore": future}), R2ObjectBody)
    assert isinstance(await bucket.get("c", onlyIf={"etagMatches": "*"}), R2ObjectBody)


async def test_only_if_quoted_etag_is_refused_but_headers_take_quotes(bucket):
    put = await bucket.put("c", b"body")
    with pytest.raises(TypeError, match="quotes"):
        await bucket.get("c", onlyIf={"etagMatches": put.httpEtag})
    cached = await bucket.get("c", onlyIf=Headers({"If-None-Match": f'"other", {put.httpEtag}'}))
    assert type(cached) is R2Object
    fresh = await bucket.get("c", onlyIf=Headers({"If-None-Match": '"other"'}))
    assert isinstance(fresh, R2ObjectBody)


# -- conditional puts ----------------------------------------------------------------------------

async def test_conditional_put(bucket):
    assert await bucket.put("db", b"v1", onlyIf={"etagMatches": "*"}) is None  # nothing to match
    assert await bucket.put("db", b"v1", onlyIf={"etagMatches": md5(b"v1")}) is None
    v1 = await bucket.put("db", b"v1")
    assert await bucket.put("db", b"x", onlyIf={"etagMatches": md5(b"x")}) is None
    assert await (await bucket.get("db")).bytes() == b"v1"
    v2 = await bucket.put("db", b"v2", onlyIf={"etagMatches": v1.etag})
    assert v2 is not None and v2.etag == md5(b"v2")
    assert await bucket.put("db", b"v3", onlyIf={"etagMatches": v1.etag}) is None  # stale etag
    assert await bucket.put("db", b"v3", onlyIf={"etagDoesNotMatch": v2.etag}) is None
    assert (await bucket.put("db", b"v3", onlyIf={"etagDoesNotMatch": v1.etag})).etag == md5(b"v3")


async def test_concurrent_compare_and_swap_has_exactly_one_winner(bucket):
    base = await bucket.put("db", b"base")
    # Slow streams interleave both writers before either commits.
    results = await asyncio.gather(
        bucket.put("db", chunks(b"writer-", b"A", pause=0.01), onlyIf={"etagMatches": base.etag}),
        bucket.put("db", chunks(b"writer-", b"B", pause=0.01), onlyIf={"etagMatches": base.etag}),
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (await bucket.head("db")).etag == winners[0].etag
    assert await (await bucket.get("db")).bytes() in (b"writer-A", b"writer-B")


async def test_many_concurrent_writers_one_winner_and_no_leftover_files(bucket, root):
    base = await bucket.put("db", b"base")
    results = await asyncio.gather(*[
        bucket.put("db", chunks(b"w", str(i).encode(), pause=random.random() / 100), onlyIf={"etagMatches": base.etag})
        for i in range(20)
    ])
    assert sum(r is not None for r in results) == 1
    assert len(list((root / "blobs").iterdir())) == 1 and not list((root / "tmp").iterdir())


async def test_create_if_absent(bucket):
    first = await bucket.put("new", b"1", onlyIf={"etagDoesNotMatch": "*"})
    assert first is not None
    assert await bucket.put("new", b"2", onlyIf={"etagDoesNotMatch": "*"}) is None
    assert await (await bucket.get("new")).bytes() == b"1"
    results = await asyncio.gather(*[
        bucket.put("race", chunks(bytes([i]), pause=0.001), onlyIf={"etagDoesNotMatch": "*"}) for i in range(10)
    ])
    assert sum(r is not None for r in results) == 1


# -- delete --------------------------------------------------------------------------------------

async def test_delete_single_and_many(bucket, root):
    for key in ("a", "b", "c", "d"):
        await bucket.put(key, key)
    assert await bucket.delete("a") is None
    assert await bucket.head("a") is None
    await bucket.delete(["b", "c", "missing"])
    await bucket.delete("missing")
    assert [o.key for o in (await bucket.list()).objects] == ["d"]
    assert len(list((root / "blobs").iterdir())) == 1


async def test_body_read_survives_overwrite_and_delete(bucket):
    await bucket.put("k", b"old" * 50_000)
    obj = await bucket.get("k")
    await bucket.put("k", b"new")
    await bucket.delete("k")
    assert await obj.bytes() == b"old" * 50_000


# -- list ----------------------------------------------------------------------------------------

async def test_list_prefix_start_after_and_include(bucket):
    for key in ("u1/a", "u1/b", "u1/c", "u10/a", "u2/a"):
        await bucket.put(key, b"", httpMetadata={"contentType": "text/plain"}, customMetadata={"k": key})
    listed = await bucket.list(prefix="u1/")
    assert [o.key for o in listed.objects] == ["u1/a", "u1/b", "u1/c"]
    assert listed.truncated is False and listed.delimitedPrefixes == [] and not hasattr(listed, "cursor")
    assert listed.objects[0].httpMetadata is None and listed.objects[0].customMetadata is None
    with pytest.raises(TypeError, match="include"):
        listed.objects[0].writeHttpMetadata({})
    assert [o.key for o in (await bucket.list(prefix="u1/", startAfter="u1/a")).objects] == ["u1/b", "u1/c"]
    full = await bucket.list(prefix="u2", include=["httpMetadata", "customMetadata"])
    assert full.objects[0].httpMetadata.contentType == "text/plain" and full.objects[0].customMetadata.k == "u2/a"
    for bad in (0, 1001, -1, 2.0):
        with pytest.raises(ValueError, match="MaxKeys"):
            await bucket.list(limit=bad)
    with pytest.raises(ValueError, match="cursor"):
        await bucket.list(cursor="%%%")
    with pytest.raises(ValueError, match="cursor"):
        await bucket.list(cursor="Ag==")


async def test_list_pagination_across_2500_objects(bucket):
    keys = [f"user/{i:05d}.bin" for i in range(2500)]
    shuffled = keys[:]
    random.shuffle(shuffled)
    for key in shuffled:
        await bucket.put(key, key)
    await bucket.put("other/x", b"")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await bucket.list(prefix="user/", cursor=cursor)
        pages += 1
        assert len(page.objects) <= 1000
        seen += [o.key for o in page.objects]
        if not page.truncated:
            break
        cursor = page.cursor
        assert isinstance(cursor, str)
    assert seen == keys and pages == 3

    seen, cursor = [], None
    while True:
        page = await bucket.list(prefix="user/", limit=7, cursor=cursor)
        seen += [o.key for o in page.objects]
        if not page.truncated:
            break
        assert len(page.objects) == 7
        cursor = page.cursor
    assert seen == keys


async def test_list_delimiter(bucket):
    for key in ("a/1", "a/2", "a/b/3", "b/1", "c", "d/1", "d/2", "e"):
        await bucket.put(key, b"")
    top = await bucket.list(delimiter="/")
    assert [o.key for o in top.objects] == ["c", "e"]
    assert top.delimitedPrefixes == ["a/", "b/", "d/"] and not top.truncated
    nested = await bucket.list(prefix="a/", delimiter="/")
    assert [o.key for o in nested.objects] == ["a/1", "a/2"] and nested.delimitedPrefixes == ["a/b/"]
    # Objects and prefixes share the limit; pages continue after a whole group.
    entries, cursor = [], None
    while True:
        page = await bucket.list(delimiter="/", limit=2, cursor=cursor)
        entries += [o.key for o in page.objects] + page.delimitedPrefixes
        assert len(page.objects) + len(page.delimitedPrefixes) <= 2
        if not page.truncated:
            break
        cursor = page.cursor
    assert sorted(entries) == ["a/", "b/", "c", "d/", "e"]


# -- keys and persistence ------------------------------------------------------------------------

WEIRD_KEYS = ["ünïcödé/文件.mp4", "../x", "../../etc/passwd", "a//b", "/leading", "with space ", "\\back\\slash",
              ".", "..", "emoji/😀", "nul\x00byte", "k" * 1024, "é" * 512, "trailing/"]


async def test_weird_keys_are_stored_and_listed_exactly(bucket, root):
    for i, key in enumerate(WEIRD_KEYS):
        await bucket.put(key, f"value {i}")
    for i, key in enumerate(WEIRD_KEYS):
        obj = await bucket.get(key)
        assert obj.key == key and await obj.text() == f"value {i}"
    listed = [o.key for o in (await bucket.list()).objects]
    assert listed == sorted(WEIRD_KEYS, key=lambda k: k.encode())
    # Nothing escaped the bucket's folder.
    assert {p.name for p in root.iterdir()} <= {"blobs", "tmp", "index.sqlite", "index.sqlite-wal", "index.sqlite-shm"}
    assert all(len(p.name) == 32 for p in (root / "blobs").iterdir()) and not list((root / "tmp").iterdir())
    assert not (root.parent / "x").exists() and not (root.parent.parent / "x").exists()


async def test_key_limits(bucket):
    with pytest.raises(ValueError, match="name"):
        await bucket.put("k" * 1025, b"")
    with pytest.raises(ValueError, match="name"):
        await bucket.put("é" * 513, b"")  # 1026 UTF-8 bytes
    with pytest.raises(TypeError):
        await bucket.get(b"bytes-key")  # type: ignore[arg-type]


async def test_list_orders_by_utf8_bytes(bucket):
    keys = ["z", "a", "\uffff", "😀", "é", "A", "a/b", "a-b"]
    for key in keys:
        await bucket.put(key, b"")
    assert [o.key for o in (await bucket.list()).objects] == sorted(keys, key=lambda k: k.encode())


async def test_state_survives_a_new_instance(root):
    first = LocalR2Bucket(root, "user-data")
    put = await first.put("u/database.sqlite", b"sqlite bytes", httpMetadata={"contentType": "application/x-sqlite3"},
                          customMetadata={"schema": "3"})
    await first.put("u/gone", b"x")
    await first.delete("u/gone")
    first.close()
    (root / "blobs" / "orphan-from-a-crash").write_bytes(b"junk")

    second = LocalR2Bucket(root, "user-data")
    obj = await second.get("u/database.sqlite")
    assert await obj.bytes() == b"sqlite bytes"
    assert (obj.etag, obj.version, obj.uploaded) == (put.etag, put.version, put.uploaded)
    assert obj.httpMetadata.contentType == "application/x-sqlite3" and obj.customMetadata.schema == "3"
    assert await second.head("u/gone") is None
    assert not (root / "blobs" / "orphan-from-a-crash").exists()
    assert await second.put("u/database.sqlite", b"v2", onlyIf={"etagMatches": put.etag}) is not None
    second.close()


# -- bodies are read once ------------------------------------------------------------------------

async def test_body_can_be_read_once(bucket):
    await bucket.put("k", b"data")
    obj = await bucket.get("k")
    assert obj.bodyUsed is False
    assert await obj.text() == "data"
    assert obj.bodyUsed is True
    for reader in (obj.arrayBuffer, obj.text, obj.json, obj.bytes):
        with pytest.raises(TypeError, match="already been used"):
            await reader()
    with pytest.raises(TypeError, match="already been used"):
        async for _ in obj.body:
            pass

    streamed = await bucket.get("k")
    assert [c async for c in streamed.body] == [b"data"]
    with pytest.raises(TypeError, match="already been used"):
        await streamed.arrayBuffer()


async def test_empty_object_body(bucket):
    await bucket.put("empty", b"")
    obj = await bucket.get("empty")
    assert obj.size == 0 and [c async for c in obj.body] == []
    assert await (await bucket.get("empty")).bytes() == b""


async def test_put_from_another_objects_body_and_a_request_body(bucket):
    await bucket.put("src", os.urandom(150_000))
    source = await bucket.get("src")
    copy = await bucket.put("copy", source.body)
    assert copy.etag == source.etag and source.bodyUsed
    upload = Request("http://w/upload", method="PUT", body=chunks(b"part1-", b"part2"))
    assert (await bucket.put("upload", upload.body)).size == len(b"part1-part2")
