"""WorkersClient's uploads and downloads offline (reel_ballers_client/streams.py): a storage served by
httpx's MockTransport that, like R2 and the Worker's signed URLs, takes no PUT without a Content-Length."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading

import httpx
import pytest
from reel_ballers_client import WorkersClient, streams

DATA = bytes(range(256)) * 40  # 10 KiB


class Storage:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[dict] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/storage/upload-url":
            key = json.loads(request.content)["key"]
            return httpx.Response(200, json={"url": f"http://storage.test/o/{key}", "key": key,
                                             "headers": {"Content-Type": "video/mp4"}})
        if path == "/api/storage/presigned-url":
            return httpx.Response(200, json={"url": f"http://storage.test/o/{request.url.params['key']}"})
        key = path.removeprefix("/o/")
        if request.method == "PUT":
            if "content-length" not in request.headers or "transfer-encoding" in request.headers:
                return httpx.Response(411, json={"error": "Content-Length required", "code": "length_required"})
            body = await request.aread()
            self.puts.append({"key": key, "length": int(request.headers["content-length"]), "body": body})
            if len(body) != int(request.headers["content-length"]):
                return httpx.Response(400, json={"error": "short body", "code": "bad_request"})
            self.objects[key] = body
            return httpx.Response(200)
        if key not in self.objects:
            return httpx.Response(404, json={"error": "No such object", "code": "not_found"})
        return httpx.Response(200, content=self._slowly(self.objects[key]))

    async def _slowly(self, body: bytes):
        for i in range(0, len(body), 1000):  # in pieces, letting other downloads run in between
            await asyncio.sleep(0.001)
            yield body[i:i + 1000]


@pytest.fixture
def storage() -> Storage:
    return Storage()


@pytest.fixture
def client(storage) -> WorkersClient:
    return WorkersClient("http://api.test", "key", "alice", transport=httpx.MockTransport(storage))


def pipe_of(data: bytes):
    """The read end of an OS pipe another thread writes `data` into: not seekable, length unknown."""
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as out:
            out.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return os.fdopen(r, "rb")


async def test_bytes_io_is_uploaded_from_where_it_stands_with_its_length(client, storage):
    source = io.BytesIO(DATA)
    source.seek(100)
    async with client:
        assert await client.upload("working_videos/a.mp4", source, "video/mp4", chunk_bytes=999) == "working_videos/a.mp4"
        await client.upload("working_videos/b.mp4", memoryview(DATA), "video/mp4")
    assert storage.objects["working_videos/a.mp4"] == DATA[100:] and storage.puts[0]["length"] == len(DATA) - 100
    assert storage.objects["working_videos/b.mp4"] == DATA


async def test_a_pipe_or_an_iterator_of_unknown_length_is_spooled_to_learn_it(client, storage, monkeypatch):
    monkeypatch.setattr(streams, "SPOOL_MEMORY_BYTES", 1000)  # past it, the spool goes to disk

    async def chunks():
        for i in range(0, len(DATA), 3000):
            yield DATA[i:i + 3000]

    async with client:
        with pipe_of(DATA) as pipe:
            await client.upload("working_videos/pipe.mp4", pipe, "video/mp4")
        await client.upload("working_videos/gen.mp4", (DATA[i:i + 7] for i in range(0, 70, 7)), "video/mp4")
        await client.upload("working_videos/agen.mp4", chunks(), "video/mp4")
    assert storage.objects["working_videos/pipe.mp4"] == DATA
    assert storage.objects["working_videos/gen.mp4"] == DATA[:70]
    assert storage.objects["working_videos/agen.mp4"] == DATA


async def test_with_content_length_a_pipe_is_streamed_through_and_must_be_that_long(client, storage):
    async with client:
        with pipe_of(DATA) as pipe:
            await client.upload("working_videos/p.mp4", pipe, "video/mp4", content_length=len(DATA))
        assert storage.objects["working_videos/p.mp4"] == DATA
        for wrong in (len(DATA) - 1, len(DATA) + 1):
            with pipe_of(DATA) as pipe, pytest.raises(ValueError, match="content_length"):
                await client.upload("working_videos/bad.mp4", pipe, "video/mp4", content_length=wrong)
        with pytest.raises(ValueError, match="content_length"):
            await client.upload("working_videos/bad.mp4", b"abc", "video/mp4", content_length=4)
        with pytest.raises(TypeError):
            await client.upload("working_videos/bad.mp4", ["text, not bytes"], "video/mp4")
    assert "working_videos/bad.mp4" not in storage.objects


async def test_concurrent_downloads_to_one_path_never_mix_and_leave_no_part_behind(client, storage, tmp_path):
    first, second = b"A" * 20_000, b"B" * 30_000
    storage.objects.update({"final_videos/a.mp4": first, "final_videos/b.mp4": second})
    dest = tmp_path / "out.mp4"
    async with client:
        sizes = await asyncio.gather(client.download("final_videos/a.mp4", dest, chunk_bytes=1000),
                                     client.download("final_videos/b.mp4", dest, chunk_bytes=1000))
        assert sizes == [20_000, 30_000]
        assert dest.read_bytes() in (first, second)  # one of them whole, whichever finished last
        with pytest.raises(Exception, match="No such object"):
            await client.download("final_videos/missing.mp4", tmp_path / "missing.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
