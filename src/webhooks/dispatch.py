"""A user's webhook deliveries: an event of a job goes into the outbox (no I/O), and the object's
alarm sends what is due. Runtime-free: the transport, the key, the URL rules and the clocks are given.

The URL rules (webhooks/policy.py) are checked again before every attempt and at a redelivery, not
only at the start: a delivery may wait a day for its retries, and a deploy may have narrowed
`WEBHOOK_HOSTS` meanwhile. An attempt the rules refuse sends nothing and fails like one with no
answer (logged with the reason, retried per the schedule, so a deploy that allows the host again
lets it through); a redelivery they refuse is refused.
"""

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
    check_url: Callable[[str], str]  # the deployment's URL rules now: the URL, or WebhookRefused
    clock: Callable[[], int] = now_ms
    wall_clock: Callable[[], float] = time.time
    new_id: Callable[[], str] = lambda: "msg_" + uuid.uuid4().hex

    def emit(self, event: str, job_id: str, url: str, body: str) -> None:
        """Store a delivery of `event` (its body as the receiver gets it); the alarm sends it."""
        self.outbox.add(self.new_id(), job_id, event, url, body, self.clock())

    def redeliver(self, job_id: str, delivery_id: str) -> str:
        """Send a delivery of the job again now (webhooks.outbox `redeliver`'s answers); WebhookRefused
        when its URL is no longer one the deployment allows."""
        url = self.outbox.url_of(job_id, delivery_id)
        if url is None:
            return "missing"
        self.check_url(url)
        return self.outbox.redeliver(job_id, delivery_id, self.clock())

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
            self.check_url(delivery.url)  # raises WebhookRefused: nothing is sent
            headers = signing.headers(self.key(), delivery.id, int(self.wall_clock()), delivery.body)
            answer = await self.transport("POST", delivery.url, headers=headers, content=delivery.body,
                                          timeout_s=policy.TIMEOUT_S, follow_redirects=False)
            status, excerpt = answer.status, answer.body[:policy.EXCERPT_CHARS].decode("utf-8", "replace")
            if 300 <= status <= 399:
                error = "redirects are not followed"
        except Exception as exc:  # no answer: refused, timed out, no signing key, or a URL the rules refuse
            error = first_line(exc)
        done = self.clock()
        self.outbox.finish(delivery.id, attempt, done, done - started, status=status, error=error, excerpt=excerpt,
                           schedule_s=self.schedule_s)
