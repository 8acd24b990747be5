"""Fixtures for the GPU worker's tests: fast CPU encoding, and a local storage + callback server."""

from __future__ import annotations

import pytest

from tests.gpu_worker.media import serve_storage


@pytest.fixture(autouse=True)
def fast_encoding(monkeypatch):
    monkeypatch.setenv("X264_PRESET", "ultrafast")
    monkeypatch.setenv("GPU_ENCODER", "libx264")  # no GPU on these machines: skip the NVENC probe


@pytest.fixture
def storage():
    store, server = serve_storage()
    yield store
    server.shutdown()
    server.server_close()
