"""An export job's lifecycle, runtime-free: what the user's object does on a request or a report —
create, callbacks, cancel, retry — with no outbound I/O. The steps that call out (the submission,
the watchdog, the deadlines, RunPod cancels) are `ExportJob` (jobs/export_job.py), built on this.

`UserJobs` (durable_objects/user_jobs.py) is a thin shell over this: it builds the `Ports` from the
runtime (the job's row in the user's object, `workers.fetch`, the job's WebSockets) and points the
object's alarm at the earliest `due_ms` of its jobs after every call. Tests build them from fakes
and run every rule on CPython.

Crash safety (jobs/followups.py): these steps store the record with what it owes (and when:
`due_ms`) and broadcast; the alarm and the start's own invocation do what is owed (jobs/export_job.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from clock import now_ms
from jobs import admission, attempts, deadlines, events, usage
from jobs.callbacks import InvalidCallback, Update, parse_callback
from jobs.deadlines import Limits
from jobs.model import (
    CANCELLED,
    PROCESSING,
    JobRecord,
    output_key_for,
)
from jobs.runpod import RunPodClient
from jobs.state import Outcome, apply, finish
from jobs.store import JobStore
from refusals import refusal
from settings import Settings
from storage import keys

log = logging.getLogger("reel.export_job")



@dataclass
class Ports:
    """What the lifecycle needs from the world, each a plain Python callable or object."""

    store: JobStore  # the job's row
    runpod: Callable[[], RunPodClient]  # made per call: a missing secret fails that step, not the object
    broadcast: Callable[[list[dict]], None]  # numbered events: to the job's event log, then its subscribers
    webhook: Callable[[str, JobRecord], None]  # an event for the job's webhook, stored in the outbox (no I/O)
    # A newer state the job's webhook is not told of: its waiting progress deliveries are stale (no I/O).
    stale_progress: Callable[[str], None]
    clock: Callable[[], int] = now_ms  # epoch ms, what records are stamped with
    wall_clock: Callable[[], float] = time.time  # epoch s, what URLs are signed with
    # The endpoint's scheduler (its `acquire` and `release`, jobs/slot_steps.py), made per call like `runpod`.
    scheduler: Callable[[], Any] | None = None


def webhook_event(job: JobRecord, outcome: Outcome) -> str | None:
    """The webhook event a change is (webhooks.policy.EVENTS), if any."""
    if any(m.get("type") == "retrying" for m in outcome.messages):
        return "retrying"
    if outcome.new_status:
        return "completed" if job.terminal else "started" if job.status == PROCESSING else None
    return "progress" if any(m.get("type") == "progress" for m in outcome.messages) else None


def due_rule(settings: Settings) -> Callable[[JobRecord], int | None]:
    """When a record next owes the alarm something, under these settings (what `JobTable` stores)."""
    limits = Limits.of_settings(settings)
    return lambda job: deadlines.due_ms(job, limits)


class JobLifecycle:
    def __init__(self, ports: Ports, settings: Settings) -> None:
        self.ports, self.settings = ports, settings
        self.store = ports.store
        self.limits = Limits.of_settings(settings)

    # -- the object's RPC: no outbound I/O ------------------------------------------------
    def create(self, spec: dict) -> tuple[JobRecord, bool]:
        """The job, created once from `spec`; True when this call created it."""
        job = self.store.load()
        if job is not None:
            return job, False
        t = self.ports.clock()
        job = JobRecord(job_id=spec["job_id"], user_id=spec["user_id"], type=spec["type"],
                        project_id=int(spec["project_id"]), input_key=spec["input_key"],
                        output_key=output_key_for(spec["type"], spec["job_id"]), params_json=json.dumps(spec["params"]),
                        base_url=spec["base_url"], created_ms=t, updated_ms=t, last_signal_ms=t,
                        next_submit_ms=t, db_pending=1, ledger_pending=1, webhook_url=spec.get("webhook_url"),
                        webhook_events=",".join(spec.get("webhook_events") or ()),
                        queue_ttl_s=spec.get("queue_ttl_s") or self.settings.queue_ttl_s,
                        execution_timeout_s=spec.get("execution_timeout_s") or self.settings.execution_timeout_s,
                        priority=int(spec.get("priority") or 0))
        admission.enqueue(job, t)  # queued until the scheduler grants it a slot
        self.store.save(job)
        return job, True

    def cancel(self) -> dict:
        job = self.store.load()
        if job is None:
            return refusal("not_found")
        if job.terminal:
            return refusal("already_finished", f"The job is already {job.status}", job=job.status_body())
        outcome = finish(job, CANCELLED, self.ports.clock())
        if job.runpod_id:
            job.cancel = job.cancel.requested()
        self.save_change(job, outcome)
        return {"job": job.status_body()}

    def retry(self) -> dict:
        """Run a finished job again (a request's retry): {"job": ...}, or a refusal. The submission is
        then begun like a start's (`begin_submit`, `submit`)."""
        job = self.store.load()
        if job is None:
            return refusal("not_found")
        refused = attempts.retry_refusal(job)
        if refused:
            return refusal(refused, job=job.status_body())
        self.save_change(job, attempts.begin_next(job, self.ports.clock()))
        return {"job": job.status_body()}

    def callback(self, body: Any, attempt: int = 1) -> dict:
        """Apply a RunPod or GPU-worker report of attempt `attempt`: {"received": ...}, or a refusal."""
        job = self.store.load()
        if job is None:
            return refusal("not_found")
        try:
            update = parse_callback(body)
            if update.output_key is not None:
                try:
                    update = replace(update, output_key=keys.relative_key(job.user_id, update.output_key))
                except keys.InvalidKey as exc:
                    raise InvalidCallback(f"output_key {exc}", "output_key") from None
        except InvalidCallback as exc:
            loc = ["body", exc.field] if exc.field else ["body"]
            return refusal("validation_error", f"Invalid callback: {exc}",
                           details=[{"loc": loc, "msg": str(exc), "type": "value_error"}])
        if attempt != job.attempt:  # a late report of an earlier attempt: only its usage counts
            if attempts.record_late_usage(job, attempt, update, self.settings.gpu_price_per_s):
                job.owe_records()
                self.store.save(job)
            return {"received": True, "status": job.status, "progress": job.progress, "ignored": "earlier_attempt"}
        outcome = self._apply(job, update)
        # Saved even when nothing visible changed: a sign of life restarts the stall clock.
        self.save_change(job, outcome)
        answer: dict = {"received": True, "status": job.status, "progress": job.progress}
        if outcome.ignored:
            answer["ignored"] = outcome.ignored
        return answer

    def _apply(self, job: JobRecord, update: Update) -> Outcome:
        """Keep the usage an update reports (a finished job's too: RunPod's webhook often comes after the
        GPU worker's `complete`), run the state machine, and start the next attempt after a failure that
        was not the input's fault (jobs/attempts.py)."""
        t = self.ports.clock()
        if update.kind == "timed_out" and not job.terminal:
            update = attempts.interpret_timeout(job, update, t, self.limits)
        if usage.record(job, update, self.settings.gpu_price_per_s) and job.terminal:
            job.owe_records()  # the final usage reaches the user's records and the usage ledger
        outcome = apply(job, update, t)
        if outcome.new_status and attempts.retries_automatically(job, update.retryable, self.settings.max_attempts):
            return attempts.begin_next(job, t, failure=job.error)
        return outcome

    def save_change(self, job: JobRecord, outcome: Outcome) -> None:
        """Store a change (a job that just ended owes the user's database its record) and tell the sockets.
        Its messages are numbered first (jobs/events.py): the record is saved with its last event's `seq`."""
        if outcome.new_status and job.terminal:
            job.owe_records()
            admission.ended(job)  # its slot, or its place in the queue, is released
        events.stamp(job, outcome.messages)
        self.store.save(job)
        event = webhook_event(job, outcome)
        if event is not None and job.webhook_url:
            wanted = job.webhook_events.split(",")
            if event in wanted:  # in the same step as the save: both or neither survive a crash
                self.ports.webhook(event, job)  # which also makes the job's waiting progress stale
            elif event != "progress" and "progress" in wanted:
                self.ports.stale_progress(job.job_id)  # a 99 % must not arrive after the job completed
        if outcome.messages:
            self.ports.broadcast(outcome.messages)
