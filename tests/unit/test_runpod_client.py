"""The RunPod client against the fake endpoint, through the real bindings.http → workers.fetch path."""

from __future__ import annotations

import pytest

from jobs import runpod
from local.outbound import close_client
from tests.fakes.runpod_server import FakeRunPod

KEY = "test-runpod-key"


@pytest.fixture(scope="module")
def fake():
    with FakeRunPod(api_key=KEY) as f:
        yield f


@pytest.fixture(autouse=True)
async def fresh_http_client(fake):
    fake.mode = "ok"
    yield
    await close_client()  # the shared httpx client belongs to this test's event loop


async def test_submit_sends_the_cloud_shape(fake):
    result = await runpod.submit(fake.url, KEY, {"job_id": "j1", "type": "overlay"}, "https://w/cb?sig=x")
    assert result.status == "IN_QUEUE" and result.id == fake.run_ids[-1]
    assert fake.runs[-1] == {"input": {"job_id": "j1", "type": "overlay"}, "webhook": "https://w/cb?sig=x"}


async def test_status_and_cancel(fake):
    result = await runpod.submit(fake.url, KEY, {}, "https://w/cb")
    fake.set_status(result.id, {"id": result.id, "status": "IN_PROGRESS", "output": {"progress": 40}})
    assert (await runpod.get_status(fake.url, KEY, result.id))["output"] == {"progress": 40}
    assert (await runpod.cancel(fake.url, KEY, result.id))["status"] == "CANCELLED"
    assert fake.cancel_calls[-1] == result.id
    with pytest.raises(runpod.RunPodError) as exc:
        await runpod.get_status(fake.url, KEY, "no/such id")
    assert exc.value.status == 404 and not exc.value.retryable


@pytest.mark.parametrize(("mode", "status", "retryable"), [
    ("fail", 500, True), ("unavailable", 503, True), ("reject", 400, False), ("bad_json", 200, True),
])
async def test_failures_are_classified(fake, mode, status, retryable):
    fake.mode = mode
    with pytest.raises(runpod.RunPodError) as exc:
        await runpod.submit(fake.url, KEY, {}, "https://w/cb")
    assert exc.value.retryable is retryable
    assert exc.value.status == status
    assert KEY not in str(exc.value)


async def test_wrong_key_is_not_retryable(fake):
    with pytest.raises(runpod.RunPodError) as exc:
        await runpod.submit(fake.url, "wrong-key-123", {}, "https://w/cb")
    assert exc.value.status == 401 and not exc.value.retryable
    assert "wrong-key-123" not in str(exc.value)


async def test_timeout_and_refused_connection_are_retryable(fake):
    fake.mode = "hang"
    with pytest.raises(runpod.RunPodError) as exc:
        await runpod.submit(fake.url, KEY, {}, "https://w/cb", timeout_s=0.3)
    assert exc.value.retryable and exc.value.status is None
    with pytest.raises(runpod.RunPodError) as exc:
        await runpod.submit("http://127.0.0.1:9/v2/x", KEY, {}, "https://w/cb", timeout_s=2)
    assert exc.value.retryable and exc.value.status is None


async def test_endpoint_must_be_http():
    with pytest.raises(ValueError):
        await runpod.submit("ftp://example/v2/x", KEY, {}, "https://w/cb")
