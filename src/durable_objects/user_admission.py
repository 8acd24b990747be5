"""The part of `UserJobs` (durable_objects/user_jobs.py) that deals with the endpoint's scheduler
(durable_objects/scheduler.py, docs/api.md "Scheduling"): asking for a new or retried job's slot,
and the scheduler's pushes of a grant and of queue positions. The rules are jobs/admission.py, the
steps jobs/slot_steps.py.

A start or a retry is answered after one RPC to the scheduler: granted, the job is `pending` and is
submitted right after the answer, as before; else it is `queued` with its position. The ask is
stored as owed and the alarm set before it goes out, so a process that dies before the answer
leaves the alarm to ask again (the scheduler answers a repeated ask the same).
"""

from __future__ import annotations

from typing import Any

from bindings import background


class Admission:
    # Provided by UserJobs: the job's lifecycle, the alarm, a change with its messages held, a submission.
    ctx: Any
    _job: Any
    _schedule: Any
    _change: Any
    _submit: Any

    async def _admit(self, job_id: str) -> None:
        """Ask the scheduler for the queued job's slot, and when granted submit the job right after answering."""
        lifecycle = self._job(job_id)
        if not lifecycle.begin_acquire():
            return
        await self._schedule()  # the safety net, stored before the ask goes out
        if await lifecycle.acquire():
            await self._submit_soon(job_id)
        else:  # queued with its position, or owing the release of what an ask that came too late got
            await self._schedule()

    async def _submit_soon(self, job_id: str) -> None:
        attempt = self._job(job_id).begin_submit()
        await self._schedule()  # the safety net, stored before the submission goes out
        background.keep_running(self.ctx, self._submit(job_id, attempt))

    # -- RPC from the scheduler ----------------------------------------------------------------
    async def slot_granted(self, job_id: str, attempt: int) -> str:
        """A slot for the queued job: "taken" (it is submitted now, or was already) or "not_wanted"."""
        taken = await self._change(lambda: self._job(job_id).take_slot(int(attempt)))
        if taken["submit"]:
            await self._submit_soon(job_id)
        return taken["answer"]

    def queue_positions(self, entries: list) -> None:
        """Queued jobs' new positions, `[job_id, attempt, position]` each: stored and told to their sockets."""
        for job_id, attempt, position in entries:
            self._job(job_id).place(int(attempt), int(position))
