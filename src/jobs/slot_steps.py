"""The steps of an export job that talk to the scheduler (jobs/admission.py has the rules): asking for
a slot, releasing slots, taking a pushed grant, storing a pushed position.

Crash safety as everywhere (jobs/followups.py): the ask and the release are stored as owed, with the
alarm set, before they go out; each is idempotent at the scheduler, so one repeated after a crash
changes nothing. The record is read again after every `await`.
"""

from __future__ import annotations

import logging
from typing import Any

from jobs import admission
from jobs.followups import DONE
from jobs.lifecycle import JobLifecycle
from jobs.model import PENDING, QUEUED
from jobs.state import Outcome
from outbound import first_line

log = logging.getLogger("reel.export_job")


class SlotSteps(JobLifecycle):
    def _scheduler(self) -> Any:
        if self.ports.scheduler is None:
            raise RuntimeError("no scheduler: Ports.scheduler is not set")
        return self.ports.scheduler()

    def begin_acquire(self) -> bool:
        """Mark the ask for a slot in flight (stored: no I/O yet); False when none is owed."""
        job = self.store.load()
        if job is None or not admission.begin_acquire(job, self.ports.clock()):
            return False
        self.store.save(job)
        return True

    async def acquire(self) -> bool:
        """Ask for the current attempt's slot (begun with `begin_acquire`); True when granted now: the job
        is pending, to be submitted (`begin_submit`, `submit`)."""
        job = self.store.load()
        attempt = job.attempt
        try:
            answer = await self._scheduler().acquire(*admission.acquire_args(job, self.limits))
        except Exception as exc:
            job = self.store.load()
            if job.status == QUEUED and job.attempt == attempt and job.slot.pending:
                # Never given up: a queued job asks until it has a slot or its queue TTL ends it.
                job.slot = job.slot.failed(self.ports.clock(), give_up=False)
                self.store.save(job)
            log.warning("asking the scheduler for a slot for %s failed: %s", job.job_id, first_line(exc))
            return False
        job = self.store.load()
        outcome = admission.acquired(job, attempt, answer, self.ports.clock())
        if outcome is not None:
            self.save_change(job, outcome)
            return job.status == PENDING
        if job.terminal or job.attempt != attempt:
            # It ended (or began again) while the ask was out: what the ask got goes back, by a release owed
            # now that the scheduler has surely seen the ask (one sent before may have overtaken it), and
            # sent by the alarm the caller sets next: stored before any call, as every follow-up is.
            admission.owe_release(job, attempt + 1)
            self.store.save(job)
        return False

    async def release_slots(self) -> None:
        """Tell the scheduler the job's earlier (or, once it ended, all its) attempts need no slot."""
        job = self.store.load()
        below = job.release_below
        try:
            await self._scheduler().release(job.job_id, below)
        except Exception as exc:
            job = self.store.load()
            job.release = job.release.failed(self.ports.clock())
            if not job.release.pending:  # given up: the slots' leases free them
                log.warning("giving up releasing the slots of %s: %s", job.job_id, first_line(exc))
            self.store.save(job)
            return
        job = self.store.load()
        if job.release_below == below and job.release.pending:  # nothing further was asked meanwhile
            job.release = DONE
            self.store.save(job)

    def take_slot(self, attempt: int) -> dict:
        """The scheduler pushed a grant to `attempt`: {"answer": TAKEN | NOT_WANTED, "submit": whether the
        job just turned pending and is to be submitted}."""
        job = self.store.load()
        answer, outcome = admission.take(job, attempt, self.ports.clock())
        if outcome is not None:
            self.save_change(job, outcome)
        return {"answer": answer, "submit": outcome is not None}

    def place(self, attempt: int, position: int) -> None:
        """The scheduler pushed the queued attempt's new position: stored, and told to the sockets."""
        job = self.store.load()
        if job is None or job.attempt != attempt:
            return
        messages = admission.place(job, position)
        if messages:  # numbered and logged like every event of the job (save_change)
            self.save_change(job, Outcome(changed=True, messages=messages))
