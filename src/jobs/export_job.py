"""The steps of an export job that call out: a start's (or retry's) submission to RunPod with its
retries, and the alarm's work — the deadlines, the stall watchdog, RunPod cancels.

Crash safety (jobs/followups.py): the lifecycle's steps and `begin_submit` do no outbound I/O; they
store the record with what it owes (and when: `due_ms`). `submit` and `run_due` are the places that
call out — the first right after a start, in the start's own invocation, the second in the alarm,
which also finishes whatever a crash interrupted. Every call out is an `await` during which other
events of the object may run (workerd's input gates open), so the record is read again after each
one before it is changed, and a follow-up is marked done only if nothing newer was asked of it meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from backoff import backoff_ms
from jobs import deadlines
from jobs.callbacks import Update, from_runpod_status
from jobs.followups import DONE
from jobs.model import CANCELLED, COMPLETE, ERROR, EXPIRED, PENDING, PROCESSING, QUEUED, TIMED_OUT
from jobs.runpod import RunPodError
from jobs.slot_steps import SlotSteps
from jobs.state import Outcome, finish, start_processing
from jobs.submission import runpod_input
from outbound import first_line
from storage import keys

log = logging.getLogger("reel.export_job")

SUBMIT_MAX_ATTEMPTS = 8
SUBMIT_BACKOFF_MAX_S = 300
SUBMIT_MARGIN_S = 5  # beyond the submission's own timeout, before an attempt counts as lost
SUBMIT_WAITING_MESSAGE = "Waiting for the GPU service; retrying"


class ExportJob(SlotSteps):
    """One job of a user's object: the lifecycle's steps and the ones that call out (the scheduler's: SlotSteps)."""

    async def run_due(self) -> None:
        """Do whatever is due now; each step stores its own result (the shell then sets the alarm)."""
        job = self.store.load()
        if job is None:
            return
        t = self.ports.clock()
        if not job.terminal and t >= deadlines.deadline(job, self.limits)[0]:
            await self._end_at_deadline()
        elif job.status == QUEUED and job.slot.due(t):
            if self.begin_acquire() and await self.acquire():
                await self._submit()
        elif job.status == PENDING and t >= job.next_submit_ms:
            await self._submit()
        elif job.status == PROCESSING and t >= deadlines.stall_ms(job, self.limits.stall_poll_s):
            await self._poll()
        if self.store.load().cancel.due(self.ports.clock()):
            await self._cancel()
        if self.store.load().release.due(self.ports.clock()):
            await self.release_slots()

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
        job_attempt = job.attempt
        try:
            payload, webhook, policy = runpod_input(job, self.settings, self.ports.wall_clock())
            result = await self.ports.runpod().submit(payload, webhook, policy=policy,
                                                      timeout_s=self.settings.submit_timeout_s)
        except Exception as exc:
            self._submit_failed(getattr(exc, "retryable", True), first_line(exc), attempt, job_attempt)
            return
        job = self.store.load()
        if job.attempt != job_attempt:
            # Cancelled and retried while the request was out: this RunPod job is the earlier attempt's,
            # which nobody wants; it is cancelled, and the current attempt keeps its own.
            if job.cancel_runpod_id is None:
                job.cancel_runpod_id, job.cancel = result.id, job.cancel.requested()
                self.store.save(job)
            else:
                log.warning("job %s: RunPod job %s of an earlier attempt left running", job.job_id, result.id)
            return
        if job.terminal and not job.runpod_id:
            # Cancelled or timed out while the request was out: RunPod now runs a job nobody wants.
            job.runpod_id = result.id
            if job.status != COMPLETE:
                job.cancel = job.cancel.requested()
            self.store.save(job)
            return
        if job.terminal:
            return
        was_pending = job.status == PENDING  # else a worker's report said it runs while the request was out
        start_processing(job, result.id, self.ports.clock())
        if job.submit_waiting:
            job.submit_waiting, job.message = 0, None
        self.save_change(job, Outcome(changed=True, new_status=was_pending,
                                      messages=[job.status_message()] if was_pending else []))

    def _submit_failed(self, retryable: bool, reason: str, attempt: int, job_attempt: int) -> None:
        job = self.store.load()
        if job.status != PENDING or job.attempt != job_attempt:  # a callback, a cancel or a retry got there first
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

