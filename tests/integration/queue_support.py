"""What the encode queue's integration modules share: a fresh queue's name and an enqueue."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import SERVER_KEY

KEY = {"X-API-Key": SERVER_KEY}


def new_queue() -> str:
    """A queue no other test uses (each queue is its own Durable Object)."""
    return "q" + uuid.uuid4().hex[:12]


def enqueue(c: httpx.Client, queue: str, body) -> list[dict]:
    r = c.post("/api/jobs", params={"queue": queue}, json=body, headers=KEY)
    assert r.status_code == 201, r.text
    return r.json()
