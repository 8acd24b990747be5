"""The RunPod client against the fake endpoint, over real HTTP through an httpx transport."""

from __future__ import annotations

import pytest

from jobs.runpod import RunPodClient, RunPodError
from tests.fakes.httpx_transport import HttpxTransport
from tests.fakes.runpod_server import FakeRunPod

KEY = "test-runpod-key"


@pytest.fixture(scope="module")
def fake():
    with FakeRunPod(api_key=KEY) as f:
        yield f


@pytest.fixture
async def transport(fake):
    fake.mode = "ok"
    async with HttpxTransport() as t:  # one httpx client per test: it belongs to the test's event loop
        yield t


@pytest.fixture
def client(fake, transport):
    return RunPodClient(fake.url, KEY, transport)


async def test_submit_sends_the_cloud_shape(fake, client):
    result = await client.submit({"job_id": "j1", "type": "overlay"}, "https://w/cb?sig=x")
    assert result.status == "IN_QUEUE" and result.id == fake.run_ids[-1]
    assert fake.runs[-1] == {"input": {"job_id": "j1", "type": "overlay"}, "webhook": "https://w/cb?sig=x"}


async def test_status_and_cancel(fake, client):
    result = await client.submit({}, "https://w/cb")
    fake.set_status(result.id, {"id": result.id, "status": "IN_PROGRESS", "output": {"progress": 40}})
    assert (await client.get_status(result.id))["output"] == {"progress": 40}
    assert (await client.cancel(result.id))["status"] == "CANCELLED"
    assert fake.cancel_calls[-1] == result.id
    with pytest.raises(RunPodError) as exc:
        await client.get_status("no/such id")
    assert exc.value.status == 404 and not exc.value.retryable


@pytest.mark.parametrize(("mode", "status", "retryable"), [
    ("fail", 500, True), ("unavailable", 503, True), ("reject", 400, False), ("bad_json", 200, True),
])
async def test_failures_are_classified(fake, client, mode, status, retryable):
    fake.mode = mode
    with pytest.raises(RunPodError) as exc:
        await client.submit({}, "https://w/cb")
    assert exc.value.retryable is retryable
    assert exc.value.status == status
    assert KEY not in str(exc.value)


async def test_wrong_key_is_not_retryable(fake, transport):
    with pytest.raises(RunPodError) as exc:
        await RunPodClient(fake.url, "wrong-key-123", transport).submit({}, "https://w/cb")
    assert exc.value.status == 401 and not exc.value.retryable
    assert "wrong-key-123" not in str(exc.value)


async def test_timeout_and_refused_connection_are_retryable(fake, client, transport):
    fake.mode = "hang"
    with pytest.raises(RunPodError) as exc:
        await client.submit({}, "https://w/cb", timeout_s=0.3)
    assert exc.value.retryable and exc.value.status is None
    assert KEY not in str(exc.value)
    with pytest.raises(RunPodError) as exc:
        await RunPodClient("http://127.0.0.1:9/v2/x", KEY, transport).submit({}, "https://w/cb", timeout_s=2)
    assert exc.value.retryable and exc.value.status is None
    assert KEY not in str(exc.value)


async def test_endpoint_must_be_http(transport):
    with pytest.raises(ValueError):
        await RunPodClient("ftp://example/v2/x", KEY, transport).submit({}, "https://w/cb")


async def test_repr_hides_the_key(fake, transport):
    assert KEY not in repr(RunPodClient(fake.url, KEY, transport))
