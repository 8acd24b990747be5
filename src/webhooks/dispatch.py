"""A user's webhook deliveries: an event of a job goes into the outbox (no I/O), and the object's
alarm sends what is due. Runtime-free: the transport, the key and the clocks are given."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from clock import now_ms
from outbound import Transport, first_line
from webhooks import policy, signing
from webhooks.outbox import Delivery, Outbox

SEND_BATCH = 20  # deliveries one alarm run sends side by side; the rest are due again right after


@dataclass
class Dispatch:
    outbox: Outbox
    transport: Transport
    key: Callable[[], bytes]  # the signing key; raises (MissingSecret, InvalidSecret) when not configured
    schedule_s: tuple[int, ...]
    clock: Callable[[], int] = now_ms
    wall_clock: Callable[[], float] = time.time
    new_id: Callable[[], str] = lambda: "msg_" + uuid.uuid4().hex

    def emit(self, event: str, job_id: str, url: str, body: str) -> None:
        """Store a delivery of `event` (its body as the receiver gets it); the alarm sends it."""
        self.outbox.add(self.new_id(), job_id, event, url, body, self.clock())

    async def send_due(self) -> None:
        now = self.clock()
        self.outbox.drop_lost(now)
        due = self.outbox.due(now, SEND_BATCH)
        await asyncio.gather(*(self._send(delivery) for delivery in due))

    async def _send(self, delivery: Delivery) -> None:
        attempt = self.outbox.begin(delivery.id, self.clock(), policy.TIMEOUT_S)  # stored before the request
        started = self.clock()
        status = error = excerpt = None
        try:
            headers = signing.headers(self.key(), delivery.id, int(self.wall_clock()), delivery.body)
            answer = await self.transport("POST", delivery.url, headers=headers, content=delivery.body,
                                          timeout_s=policy.TIMEOUT_S, follow_redirects=False)
            status, excerpt = answer.status, answer.body[:policy.EXCERPT_CHARS].decode("utf-8", "replace")
            if 300 <= status <= 399:
                error = "redirects are not followed"
        except Exception as exc:  # no answer: refused, timed out, or no signing key
            error = first_line(exc)
        done = self.clock()
        self.outbox.finish(delivery.id, attempt, done, done - started, status=status, error=error, excerpt=excerpt,
                           schedule_s=self.schedule_s)
