"""Fixtures for the GPU worker's tests: fast CPU encoding (the storage server is in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def fast_encoding(monkeypatch):
    monkeypatch.setenv("X264_PRESET", "ultrafast")
    monkeypatch.setenv("GPU_ENCODER", "libx264")  # no GPU on these machines: skip the NVENC probe
