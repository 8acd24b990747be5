"""The alarm's work for one export job: everything that talks to RunPod or the user's job index.

`ExportJobState` handlers only store the record with what it owes (jobs/followups.py) and set the
alarm; `JobFollowUps.run` is what the alarm calls. Every outbound call is an `await` during which
other events of the object may run (workerd's input gates open), so the record is read again after
each one before it is changed, and a follow-up is marked done only if nothing newer was asked of it
meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from bindings.http import request as http_request
from clock import now_ms
from jobs import followups
from jobs.callbacks import from_runpod_status
from jobs.model import CANCELLED, ERROR, PENDING, PROCESSING, JobRecord
from jobs.runpod import RunPodClient
from jobs.state import Outcome, apply, finish, start_processing
from jobs.store import JobStore
from jobs.submission import runpod_input
from outbound import Transport, first_line
from settings import Settings
from storage import keys

log = logging.getLogger("reel.export_job")

SUBMIT_MAX_ATTEMPTS = 8
SUBMIT_TIMEOUT_S = 15.0
SUBMIT_BACKOFF_MAX_S = 300
SUBMIT_WAITING_MESSAGE = "Waiting for the GPU service; retrying"


# Stores a change of the job with what it owes and tells the sockets, without outbound I/O or
# setting the alarm (ExportJobState._save_change with schedule=False).
SaveChange = Callable[[JobRecord, Outcome], Awaitable[None]]


class JobFollowUps:
    def __init__(self, store: JobStore, env: Any, save_change: SaveChange,
                 transport: Transport = http_request) -> None:
        self.store, self.env, self.save_change, self.transport = store, env, save_change, transport

    def _runpod(self, settings: Settings) -> RunPodClient:
        return RunPodClient(settings.runpod_endpoint, settings.secret("RUNPOD_API_KEY"), self.transport)

    async def run(self, settings: Settings) -> None:
        """Do whatever is due now. Each step stores its own result; the caller sets the next alarm."""
        job = self.store.load()
        if job is None:
            return
        t = now_ms()
        if not job.terminal and t >= followups.timeout_ms(job, settings.job_timeout_s):
            outcome = finish(job, ERROR, t, error="timed out")
            if job.runpod_id:
                followups.request(job, "cancel")
            await self.save_change(job, outcome)
        elif job.status == PENDING and t >= job.next_submit_ms:
            await self._submit(settings)
        elif job.status == PROCESSING and t >= followups.stall_ms(job, settings.stall_poll_s):
            await self._poll(settings)
        for channel, step in (("cancel", self._cancel), ("index", self._index)):
            job = self.store.load()
            if followups.is_due(job, channel, now_ms()):
                await step(settings)

    async def _submit(self, settings: Settings) -> None:
        job = self.store.load()
        job.submit_attempts += 1  # counted before the request: a crash mid-request still used an attempt
        attempt = job.submit_attempts
        self.store.save(job)
        try:
            payload, webhook = runpod_input(job, settings, time.time())
            result = await self._runpod(settings).submit(payload, webhook, timeout_s=SUBMIT_TIMEOUT_S)
        except Exception as exc:
            await self._submit_failed(getattr(exc, "retryable", True), first_line(exc), attempt)
            return
        job = self.store.load()
        if job.status == CANCELLED and not job.runpod_id:  # cancelled while the request was out
            job.runpod_id = result.id
            followups.request(job, "cancel")
            self.store.save(job)
            return
        if job.terminal:
            return
        start_processing(job, result.id, now_ms())
        if job.submit_waiting:
            job.submit_waiting, job.message = 0, None
        await self.save_change(job, Outcome(changed=True, new_status=True, messages=[job.status_message()]))

    async def _submit_failed(self, retryable: bool, reason: str, attempt: int) -> None:
        job = self.store.load()
        if job.status != PENDING:  # a callback or a cancel got there first
            return
        t = now_ms()
        if not retryable or attempt >= SUBMIT_MAX_ATTEMPTS:
            outcome = finish(job, ERROR, t, error=f"Could not submit the job to RunPod: {reason}")
            await self.save_change(job, outcome)
            return
        base = float(getattr(self.env, "SUBMIT_RETRY_BASE_S", None) or 2)
        job.next_submit_ms = t + followups.backoff_ms(base, attempt, SUBMIT_BACKOFF_MAX_S)
        job.submit_waiting, job.message, job.updated_ms = 1, SUBMIT_WAITING_MESSAGE, t
        await self.save_change(job, Outcome(changed=True))

    async def _poll(self, settings: Settings) -> None:
        """The watchdog: callbacks stalled, so ask RunPod."""
        job = self.store.load()
        try:
            body = await self._runpod(settings).get_status(job.runpod_id)
            update = from_runpod_status(body)
            if update.output_key is not None:
                update = replace(update, output_key=keys.relative_key(job.user_id, update.output_key))
        except Exception as exc:
            log.info("watchdog poll for %s failed: %s", job.job_id, first_line(exc))
            job = self.store.load()
            job.last_signal_ms = now_ms()  # try again one stall period from now
            self.store.save(job)
            return
        job = self.store.load()
        # `apply` also restarts the stall clock: the next poll is one period away.
        await self.save_change(job, apply(job, update, now_ms()))

    async def _cancel(self, settings: Settings) -> None:
        job = self.store.load()
        if job.runpod_id:  # without one RunPod never took the job: nothing to cancel there
            try:
                await self._runpod(settings).cancel(job.runpod_id)
            except Exception as exc:
                job = self.store.load()
                if not getattr(exc, "retryable", True) or not followups.failed(job, "cancel", now_ms()):
                    log.warning("giving up cancelling %s on RunPod: %s", job.job_id, first_line(exc))
                    followups.done(job, "cancel")
                self.store.save(job)
                return
            job = self.store.load()
        followups.done(job, "cancel")
        self.store.save(job)

    async def _index(self, _settings: Settings) -> None:
        job = self.store.load()
        entry = job.index_entry()
        try:
            await self.env.USER_JOBS.getByName(job.user_id).upsert(entry)
        except Exception as exc:
            log.warning("job index update for %s failed: %s", job.job_id, first_line(exc))
            job = self.store.load()
            if not followups.failed(job, "index", now_ms()):
                log.warning("giving up the index update of %s", job.job_id)
            self.store.save(job)
            return
        # Done, unless the job changed while the update was out: then the newer state is still owed,
        # at once for a new status, and after the coalescing window when only progress or a message
        # moved (else a job reporting fast would push back to back, one push per round trip).
        job = self.store.load()
        if job.status_body() == entry["body"]:
            followups.done(job, "index")
        elif job.status == entry["status"]:
            followups.defer(job, "index", now_ms() + followups.INDEX_COALESCE_MS)
        else:
            return
        self.store.save(job)
