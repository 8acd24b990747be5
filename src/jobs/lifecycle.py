"""An export job's whole lifecycle, runtime-free: create, callbacks, cancel, submission with
retries, the watchdog, the timeout and RunPod cancels.

`UserJobs` (durable_objects/user_jobs.py) is a thin shell over this: it builds the `Ports` from the
runtime (the job's row in the user's object, `workers.fetch`, the job's WebSockets) and points the
object's alarm at the earliest `due_ms` of its jobs after every call. Tests build them from fakes
and run every rule on CPython.

Crash safety (jobs/followups.py): `create`, `cancel`, `callback` and `begin_submit` do no outbound
I/O; they store the record with what it owes (and when: `due_ms`) and broadcast. `submit` and
`run_due` are the places that call out — the first right after a start, in the start's own
invocation, the second in the alarm, which also finishes whatever a crash interrupted. Every call
out is an `await` during which other events of the object may run (workerd's input gates open), so
the record is read again after each one before it is changed, and a follow-up is marked done only
if nothing newer was asked of it meanwhile.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from backoff import backoff_ms
from clock import now_ms
from jobs import attempts, deadlines, usage
from jobs.callbacks import InvalidCallback, Update, from_runpod_status, parse_callback
from jobs.deadlines import Limits
from jobs.followups import DONE
from jobs.model import (
    CANCELLED,
    COMPLETE,
    ERROR,
    EXPIRED,
    PENDING,
    PROCESSING,
    TIMED_OUT,
    JobRecord,
    output_key_for,
)
from jobs.runpod import RunPodClient, RunPodError
from jobs.state import Outcome, apply, finish, start_processing
from jobs.store import JobStore
from jobs.submission import runpod_input
from outbound import first_line
from refusals import refusal
from settings import Settings
from storage import keys

log = logging.getLogger("reel.export_job")

SUBMIT_MAX_ATTEMPTS = 8
SUBMIT_BACKOFF_MAX_S = 300
SUBMIT_MARGIN_S = 5  # beyond the submission's own timeout, before an attempt counts as lost
SUBMIT_WAITING_MESSAGE = "Waiting for the GPU service; retrying"


@dataclass
class Ports:
    """What the lifecycle needs from the world, each a plain Python callable or object."""

    store: JobStore  # the job's row
    runpod: Callable[[], RunPodClient]  # made per call: a missing secret fails that step, not the object
    broadcast: Callable[[list[dict]], None]  # to the job's WebSockets
    webhook: Callable[[str, JobRecord], None]  # an event for the job's webhook, stored in the outbox (no I/O)
    clock: Callable[[], int] = now_ms  # epoch ms, what records are stamped with
    wall_clock: Callable[[], float] = time.time  # epoch s, what URLs are signed with


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
                        next_submit_ms=t, db_pending=1, webhook_url=spec.get("webhook_url"),
                        webhook_events=",".join(spec.get("webhook_events") or ()),
                        queue_ttl_s=spec.get("queue_ttl_s") or self.settings.queue_ttl_s,
                        execution_timeout_s=spec.get("execution_timeout_s") or self.settings.execution_timeout_s)
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
                job.db_pending = 1
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
            job.db_pending = 1  # the final usage reaches the user's records and the usage ledger
        outcome = apply(job, update, t)
        if outcome.new_status and attempts.retries_automatically(job, update.retryable, self.settings.max_attempts):
            return attempts.begin_next(job, t, failure=job.error)
        return outcome

    def save_change(self, job: JobRecord, outcome: Outcome) -> None:
        """Store a change (a job that just ended owes the user's database its record) and tell the sockets."""
        if outcome.new_status and job.terminal:
            job.db_pending = 1
        self.store.save(job)
        event = webhook_event(job, outcome)
        if event is not None and job.webhook_url and event in job.webhook_events.split(","):
            self.ports.webhook(event, job)  # in the same step as the save: both or neither survive a crash
        if outcome.messages:
            self.ports.broadcast(outcome.messages)

    # -- calling out: a start's submission, and the alarm ------------------------------------
    async def run_due(self) -> None:
        """Do whatever is due now; each step stores its own result (the shell then sets the alarm)."""
        job = self.store.load()
        if job is None:
            return
        t = self.ports.clock()
        if not job.terminal and t >= deadlines.deadline(job, self.limits)[0]:
            await self._end_at_deadline()
        elif job.status == PENDING and t >= job.next_submit_ms:
            await self._submit()
        elif job.status == PROCESSING and t >= deadlines.stall_ms(job, self.limits.stall_poll_s):
            await self._poll()
        if self.store.load().cancel.due(self.ports.clock()):
            await self._cancel()

    async def _end_at_deadline(self) -> None:
        """`expired` or `timed_out`, and cancelled at RunPod. A job RunPod has and no report said runs is
        asked about first: a silent GPU worker may have started it (then its execution timeout counts)."""
        job = self.store.load()
        if job.runpod_id and job.running_ms is None:
            await self._poll()
            job = self.store.load()
            if job.terminal:
                return
        t = self.ports.clock()
        at, status = deadlines.deadline(job, self.limits)
        if t < at:
            return  # it runs: its execution timeout is the deadline now
        queue_ttl_s, execution_timeout_s = self.limits.of(job)
        reason = (f"No GPU took the job within its queue TTL ({queue_ttl_s} s)" if status != TIMED_OUT
                  else f"Ran longer than its execution timeout ({execution_timeout_s} s)")
        outcome = finish(job, status, t, error=reason)
        if job.runpod_id:
            job.cancel = job.cancel.requested()
        self.save_change(job, outcome)

    async def _submit(self) -> None:
        await self.submit(self.begin_submit())

    def begin_submit(self) -> int:
        """Count an attempt and mark it in flight (stored: no I/O yet); the attempt's number."""
        job = self.store.load()
        job.submit_attempts += 1  # counted before the request: a crash mid-request still used an attempt
        # While this attempt is out the job is not due again: another event of the object (the alarm, a
        # replayed start) must not send a second /run. After a crash mid-request, the alarm retries once
        # the attempt would have timed out anyway.
        job.next_submit_ms = self.ports.clock() + int((self.settings.submit_timeout_s + SUBMIT_MARGIN_S) * 1000)
        self.store.save(job)
        return job.submit_attempts

    async def submit(self, attempt: int) -> None:
        """Send the job to RunPod (attempt `attempt`, begun with `begin_submit`) and store the outcome."""
        job = self.store.load()
        if job is None or job.status != PENDING or job.submit_attempts != attempt:
            return  # cancelled (or begun again) since the attempt was begun: nothing to send
        try:
            payload, webhook, policy = runpod_input(job, self.settings, self.ports.wall_clock())
            result = await self.ports.runpod().submit(payload, webhook, policy=policy,
                                                      timeout_s=self.settings.submit_timeout_s)
        except Exception as exc:
            self._submit_failed(getattr(exc, "retryable", True), first_line(exc), attempt)
            return
        job = self.store.load()
        if job.terminal and not job.runpod_id:
            # Cancelled or timed out while the request was out: RunPod now runs a job nobody wants.
            job.runpod_id = result.id
            if job.status != COMPLETE:
                job.cancel = job.cancel.requested()
            self.store.save(job)
            return
        if job.terminal:
            return
        start_processing(job, result.id, self.ports.clock())
        if job.submit_waiting:
            job.submit_waiting, job.message = 0, None
        self.save_change(job, Outcome(changed=True, new_status=True, messages=[job.status_message()]))

    def _submit_failed(self, retryable: bool, reason: str, attempt: int) -> None:
        job = self.store.load()
        if job.status != PENDING:  # a callback or a cancel got there first
            return
        t = self.ports.clock()
        if not retryable or attempt >= SUBMIT_MAX_ATTEMPTS:
            self.save_change(job, finish(job, ERROR, t, error=f"Could not submit the job to RunPod: {reason}"))
            return
        job.next_submit_ms = t + backoff_ms(self.settings.submit_retry_base_s, attempt, SUBMIT_BACKOFF_MAX_S)
        job.submit_waiting, job.message, job.updated_ms = 1, SUBMIT_WAITING_MESSAGE, t
        self.save_change(job, Outcome(changed=True))

    async def _poll(self) -> None:
        """The watchdog: callbacks stalled, so ask RunPod."""
        job = self.store.load()
        try:
            update = from_runpod_status(await self.ports.runpod().get_status(job.runpod_id))
            if update.output_key is not None:
                update = replace(update, output_key=keys.relative_key(job.user_id, update.output_key))
        except Exception as exc:
            if isinstance(exc, RunPodError) and exc.status == 404:  # RunPod lost the job: its worker vanished
                job = self.store.load()
                if not job.terminal:
                    lost = Update("error", error="RunPod no longer knows the job (its worker was lost)",
                                  retryable=True)
                    self.save_change(job, self._apply(job, lost))
                return
            log.info("watchdog poll for %s failed: %s", job.job_id, first_line(exc))
            job = self.store.load()
            job.last_signal_ms = self.ports.clock()  # try again one stall period from now
            self.store.save(job)
            return
        job = self.store.load()
        # `apply` also restarts the stall clock: the next poll is one period away.
        self.save_change(job, self._apply(job, update))

    async def _cancel(self) -> None:
        job = self.store.load()
        target = job.cancel_runpod_id or job.runpod_id  # an earlier attempt's, when a retry came first
        if target:  # without one RunPod never took the job: nothing to cancel there
            try:
                await self.ports.runpod().cancel(target)
            except Exception as exc:
                job = self.store.load()
                job.cancel = job.cancel.failed(self.ports.clock()) if getattr(exc, "retryable", True) else DONE
                if not job.cancel.pending:
                    log.warning("giving up cancelling %s on RunPod: %s", job.job_id, first_line(exc))
                self.store.save(job)
                return
            job = self.store.load()
        if job.cancel_runpod_id == target:  # the earlier attempt's is done; the current one's may be owed too
            job.cancel_runpod_id = None
            owed = job.status in (CANCELLED, EXPIRED, TIMED_OUT) and job.runpod_id
            job.cancel = job.cancel.requested() if owed else DONE
        else:
            job.cancel = DONE
        self.store.save(job)

