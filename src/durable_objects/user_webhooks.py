"""The part of `UserJobs` (durable_objects/user_jobs.py) that owns the user's webhook deliveries: the
outbox the lifecycle writes a job's events to, and the delivery log's RPC (list, redeliver). Sending
what is due is the alarm's (webhooks/dispatch.py); the rules are webhooks/ (docs/api.md "Webhooks")."""

from __future__ import annotations

import json
from typing import Any

from bindings.http import request as http_request
from refusals import refusal
from settings import Settings
from webhooks import outbox, policy, signing
from webhooks.dispatch import Dispatch


def dispatch_of(sql: Any, settings: Settings) -> Dispatch:
    """The object's deliveries under this deployment's rules (checked again before every attempt)."""
    return Dispatch(outbox.Outbox(sql), http_request, lambda: signing.key_of(settings.secret("WEBHOOK_SECRET")),
                    settings.webhook_schedule_s or (), lambda url: policy.check_url(
                        url, hosts=settings.webhook_hosts, default_url=settings.webhook_url,
                        development=settings.development))


class Deliveries:
    # Provided by UserJobs: its deliveries, its job table, the alarm.
    webhooks: Dispatch
    jobs: Any
    _schedule: Any

    def _webhook(self, event: str, job) -> None:
        """A job's event for its webhook, stored in the outbox (no I/O: the alarm sends it)."""
        self.webhooks.emit(event, job.job_id, job.webhook_url, json.dumps({"event": event, **job.status_body()}))

    def deliveries(self, job_id: str) -> str | None:
        """The job's webhook delivery log as JSON text; None when there is no such job."""
        if self.jobs.load(job_id) is None:
            return None
        return json.dumps({"deliveries": self.webhooks.outbox.of_job(job_id)}, separators=(",", ":"))

    async def redeliver(self, job_id: str, delivery_id: str) -> dict:
        try:
            state = "missing" if self.jobs.load(job_id) is None else self.webhooks.redeliver(job_id, delivery_id)
        except policy.WebhookRefused as exc:  # the deployment's rules changed since the job was started
            return refusal("webhook_not_allowed", str(exc))
        if state == "missing":
            return refusal("not_found", "No such delivery of this job")
        if state == "in_flight":
            return refusal("delivery_in_flight")
        await self._schedule()
        return {"delivery_id": delivery_id, "state": outbox.PENDING}
