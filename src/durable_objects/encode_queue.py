"""EncodeQueue: one Durable Object per queue name (filled in by the encode-queue work)."""

from __future__ import annotations

from workers import DurableObject


class EncodeQueue(DurableObject):
    pass
