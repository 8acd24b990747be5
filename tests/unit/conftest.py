"""Fixtures of the unit tests: one export job's world for the lifecycle's tests (lifecycle_world.py)."""

from __future__ import annotations

import httpx
import pytest
from lifecycle_world import KEY, World

from tests.fakes.httpx_transport import HttpxTransport
from tests.fakes.runpod_server import FakeRunPod


@pytest.fixture
def fake() -> FakeRunPod:
    return FakeRunPod(api_key=KEY)  # not started: called in process through its ASGI app


@pytest.fixture
async def world(fake):
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.asgi_app()))
    async with HttpxTransport(client) as http:
        yield World(fake, http)
