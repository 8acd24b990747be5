"""WorkersClient against the Worker on the real runtime: start, status, list, cancel, tokens, typed
errors, `watch` over the WebSocket, and `watch` falling back to polling when the socket drops."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from reel_ballers_client import (
    Conflict,
    ExportSwitch,
    InvalidRequest,
    NotFound,
    Unauthorized,
    WorkersClient,
    mint_user_token,
    start_export,
)

from tests.conftest import SECRETS, SERVER_KEY, put_object
from tests.waiting import wait_for

PARAMS = {"highlight_regions": [{"start_frame": 0, "end_frame": 10, "x": 0.5, "y": 0.5, "radius_x": 0.1,
                                 "radius_y": 0.1}], "effect_type": "blur"}
INPUT = "working_videos/client.mp4"


@pytest.fixture(scope="module")
def carol_input(worker):
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        put_object(c, "carol", INPUT, b"carol's video")


@pytest.fixture
def client(worker, carol_input, fake_runpod):
    fake_runpod.mode = "ok"
    return WorkersClient(worker.base_url, SERVER_KEY, "carol")


async def callback(url: str, body: dict) -> None:
    async with httpx.AsyncClient(timeout=30) as c:
        assert (await c.post(url, json=body)).status_code == 200


async def submitted(client: WorkersClient, fake_runpod) -> tuple[str, str]:
    started = await client.start_export("overlay", 3, INPUT, PARAMS)
    run, _ = await asyncio.to_thread(fake_runpod.run_for, started["job_id"])
    return started["job_id"], run["input"]["callback_url"]


async def test_start_status_list_cancel(client, worker):
    async with client:
        started = await client.start_export("overlay", 3, INPUT, PARAMS, idempotency_key="client-test-1")
        job_id = started["job_id"]
        assert started["websocket_url"] == client.get_websocket_url(job_id)
        assert started["websocket_url"].startswith("ws://127.0.0.1:")
        again = await client.start_export("overlay", 3, INPUT, PARAMS, idempotency_key="client-test-1")
        assert again["job_id"] == job_id
        assert (await client.get_job_status(job_id))["job_id"] == job_id
        page = await client.list_jobs(export_type="overlay", limit=100)
        assert job_id in [j["job_id"] for j in page["jobs"]]
        assert (await client.cancel(job_id))["status"] == "cancelled"
        with pytest.raises(Conflict) as caught:
            await client.cancel(job_id)
        assert caught.value.code == "already_finished"


async def test_errors_are_typed_and_carry_the_code(client, worker):
    async with client:
        with pytest.raises(NotFound) as caught:
            await client.get_job_status("0" * 32)
        assert caught.value.code == "not_found"
        with pytest.raises(InvalidRequest) as caught:
            await client.start_export("overlay", 3, "working_videos/absent.mp4", PARAMS)
        assert caught.value.code == "input_not_found"
        with pytest.raises(InvalidRequest) as caught:
            await client.start_export("overlay", 3, INPUT, {"effect_type": "sparkle"})
        assert caught.value.status == 422 and caught.value.body["details"]
    async with WorkersClient(worker.base_url, "not-the-key", "carol") as wrong:
        with pytest.raises(Unauthorized) as caught:
            await wrong.list_jobs()
        assert caught.value.code == "unauthorized"


async def test_tokens_minted_offline_and_online_are_accepted(client, worker):
    offline = mint_user_token("carol", SECRETS["USER_TOKEN_SECRET"], ttl_s=600)
    async with client:
        online = await client.mint_user_token(ttl_s=600)
    async with httpx.AsyncClient(base_url=worker.base_url, timeout=30) as c:
        for token in (offline, online):
            r = await c.get("/api/export/jobs", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text


async def test_watch_follows_a_job_over_the_websocket(client, fake_runpod):
    async with client:
        job_id, cb = await submitted(client, fake_runpod)
        events: list[dict] = []

        async def follow() -> None:
            async for event in client.watch(job_id):
                events.append(event)

        task = asyncio.create_task(follow())
        await asyncio.to_thread(wait_for, lambda: events, 15, "the first event")
        for p in (20, 70):
            await callback(cb, {"status": "progress", "progress": p})
        await callback(cb, {"status": "complete", "output_key": f"final_videos/overlay_{job_id}.mp4"})
        await asyncio.wait_for(task, 30)  # the iterator ends by itself at the terminal event
    assert events[0]["type"] == "status"
    assert [e["progress"] for e in events if e["type"] == "progress"] == [20, 70]
    assert events[-1]["type"] == "complete" and events[-1]["output_url"]


class Proxy:
    """A TCP proxy in front of the Worker, for the WebSocket only, that the test can cut."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.down = False  # while set, new connections are dropped at once
        self.requests: list[str] = []  # the request line of every connection let through

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]
        head = await reader.readuntil(b"\r\n")
        self.requests.append(head.decode("latin-1").strip())
        up_writer.write(head)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def drop(self) -> None:
        """Drop every connection, and new ones until `down` is cleared: a network path that comes back."""
        self.down = True
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def cut(self) -> None:
        """Drop every connection and refuse new ones, as a failed network path would."""
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.transport.abort()
        await self.server.wait_closed()


async def proxied_client(worker) -> tuple[Proxy, WorkersClient]:
    """A client for carol whose WebSockets go through a proxy the test can cut."""
    proxy = Proxy(int(worker.base_url.rsplit(":", 1)[1]))
    port = await proxy.start()
    return proxy, WorkersClient(worker.base_url, SERVER_KEY, "carol", ws_base_url=f"http://127.0.0.1:{port}")


async def test_watch_falls_back_to_polling_when_the_socket_drops(worker, carol_input, fake_runpod):
    fake_runpod.mode = "ok"
    proxy, client = await proxied_client(worker)
    async with client:
        job_id, cb = await submitted(client, fake_runpod)
        events: list[dict] = []

        async def follow() -> None:
            async for event in client.watch(job_id, reconnects=2, poll_interval_s=0.1):
                events.append(event)

        task = asyncio.create_task(follow())
        await callback(cb, {"status": "progress", "progress": 30})
        await asyncio.to_thread(wait_for, lambda: any(e.get("progress") == 30 for e in events), 15, "progress 30")
        await proxy.cut()  # mid-job: the socket drops, and reconnecting is refused
        await callback(cb, {"status": "progress", "progress": 60, "message": "half"})
        await asyncio.to_thread(wait_for, lambda: any(e.get("progress") == 60 for e in events), 30,
                                "progress 60 by polling")
        await callback(cb, {"status": "complete", "output_key": f"final_videos/overlay_{job_id}.mp4"})
        await asyncio.wait_for(task, 30)
    after_cut = events[[e.get("progress") for e in events].index(60):]
    assert after_cut[0] == {"type": "progress", "job_id": job_id, "progress": 60, "message": "half", "seq": 3}
    assert after_cut[-1]["type"] == "complete" and after_cut[-1]["output_url"]


async def test_watch_resumes_with_since_after_a_drop_and_misses_nothing(worker, carol_input, fake_runpod):
    fake_runpod.mode = "ok"
    proxy, client = await proxied_client(worker)
    async with client:
        job_id, cb = await submitted(client, fake_runpod)
        status_url = f"{worker.base_url}/api/export/status/{job_id}"
        await asyncio.to_thread(wait_for, lambda: httpx.get(status_url, headers={
            "X-API-Key": SERVER_KEY, "X-User-Id": "carol"}).json()["seq"] == 1, 15, "processing")
        events: list[dict] = []

        async def follow() -> None:
            async for event in client.watch(job_id, reconnects=30, poll_interval_s=30):  # never polls here
                events.append(event)

        task = asyncio.create_task(follow())
        await asyncio.to_thread(wait_for, lambda: events, 15, "the status on connect")
        await callback(cb, {"status": "progress", "progress": 30})
        await asyncio.to_thread(wait_for, lambda: any(e.get("progress") == 30 for e in events), 15, "progress 30")
        proxy.drop()  # mid-job: the socket drops, and reconnecting fails for a while
        await callback(cb, {"status": "progress", "progress": 60, "message": "half"})
        await callback(cb, {"status": "complete", "output_key": f"final_videos/overlay_{job_id}.mp4"})
        proxy.down = False
        await asyncio.wait_for(task, 30)
        await proxy.cut()
        # A long-poll past the last event answers at once.
        assert (await client.get_job_status(job_id, wait_s=20, after_seq=3))["seq"] == 4
    assert [(e["type"], e.get("progress"), e["seq"]) for e in events] == [
        ("status", 0, 1), ("progress", 30, 2), ("progress", 60, 3), ("complete", None, 4)]
    assert "?since=2 " in proxy.requests[-1]  # the socket that came back asked for what followed seq 2


async def test_the_switch_sends_the_export_to_the_worker_when_on(worker, carol_input, fake_runpod):
    async def local(**kwargs):
        raise AssertionError("the local path must not run with the flag on")

    switch = ExportSwitch.from_env({"USE_WORKERS_EXPORT": "true", "WORKERS_API_URL": worker.base_url,
                                    "WORKERS_API_KEY": SERVER_KEY})
    answer = await start_export(switch, "overlay", user_id="carol", project_id=3, input_key=INPUT, params=PARAMS,
                                local=local)
    assert set(answer) == {"job_id", "status", "websocket_url"}
    assert answer["websocket_url"].endswith(f"/api/jobs/{answer['job_id']}/ws")


async def test_a_backend_uploads_an_input_and_downloads_an_output(client, tmp_path):
    async with client:
        key = await client.upload("working_videos/from-backend.mp4", b"\x00video bytes" * 1000, "video/mp4")
        assert key == "working_videos/from-backend.mp4"
        with open(tmp_path / "source.mp4", "wb") as f:
            f.write(b"from a file" * 10)
        with open(tmp_path / "source.mp4", "rb") as f:
            await client.upload("working_videos/from-file.mp4", f, "video/mp4")
        with open(tmp_path / "big.mp4", "wb") as f:
            f.write(b"0123456789" * 300_000)  # 3 MB: streamed in 1 MB chunks
        with open(tmp_path / "big.mp4", "rb") as f:
            f.read(10)  # from where the file stands
            await client.upload("working_videos/streamed.mp4", f, "video/mp4")
        # The uploaded input can be exported at once: the start finds it.
        started = await client.start_export("overlay", 3, "working_videos/from-backend.mp4", PARAMS)
        assert started["status"] == "pending"

        url = await client.download_url("working_videos/from-backend.mp4")
        assert url.startswith("http://127.0.0.1:") and "sig=" in url
        assert await client.download("working_videos/from-backend.mp4", tmp_path / "out.mp4") == 12_000
        assert (tmp_path / "out.mp4").read_bytes() == b"\x00video bytes" * 1000
        assert await client.download("working_videos/streamed.mp4", tmp_path / "s.mp4", chunk_bytes=65536) == 2_999_990
        assert (tmp_path / "s.mp4").read_bytes() == (b"0123456789" * 300_000)[10:]
        with open(tmp_path / "f.mp4", "wb") as out:
            assert await client.download("working_videos/from-file.mp4", out) == 110

        # Storage errors are typed like the API's, and a failed download leaves no file behind.
        with pytest.raises(InvalidRequest) as refused:
            await client.upload("working_videos/page.html", b"<script>", "text/html")
        assert refused.value.code == "content_type_not_allowed"
        with pytest.raises(NotFound):
            await client.download("working_videos/missing.mp4", tmp_path / "missing.mp4")
        assert not (tmp_path / "missing.mp4").exists() and not (tmp_path / "missing.mp4.part").exists()
        with pytest.raises(InvalidRequest) as bad_key:
            await client.download_url("../escape.mp4")
        assert bad_key.value.code == "invalid_key"


async def test_a_backend_retries_a_failed_job_under_its_id(client, fake_runpod):
    async with client:
        started = await client.start_export("overlay", 3, INPUT, PARAMS, queue_ttl_s=600, execution_timeout_s=900,
                                            priority=4)
        job_id = started["job_id"]
        assert started["job"]["queue_ttl_s"] == 600 and started["job"]["execution_timeout_s"] == 900
        assert started["job"]["priority"] == 4
        run, _ = await asyncio.to_thread(fake_runpod.run_for, job_id)
        await callback(run["input"]["callback_url"], {"status": "error", "error": "not a video"})
        retried = await client.retry(job_id, idempotency_key=f"retry-{job_id}")
        again = await client.retry(job_id, idempotency_key=f"retry-{job_id}")  # the same retry, once
        assert retried["job_id"] == again["job_id"] == job_id and retried["job"]["attempt"] == 2
        await asyncio.to_thread(wait_for, lambda: fake_runpod.runs_of(job_id) == 2)
        body = await client.get_job_status(job_id)
        assert [a["outcome"] for a in body["attempts"]] == ["error", None]
        with pytest.raises(Conflict) as refused:
            await client.retry(job_id)  # it runs: nothing to retry
        assert refused.value.code == "not_retryable"
