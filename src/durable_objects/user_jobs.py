"""UserJobs: one Durable Object per user (`getByName(user_id)`) holding that user's export jobs,
their list, their WebSockets and their record in the user's database; a thin shell over the
runtime-free lifecycle (jobs/lifecycle.py, jobs/export_job.py).

Why one object per user and not one per job: every operation on a job is then the request plus one
call into one object. A start creates the job, claims its idempotency key and submits it to RunPod
in one invocation; the job list is a query over the same rows, so it shows a start or a status
change at once without a second object being told (each such call entered Python again, and the
issue-18 profile put a start at five entries); a callback finds the job and its sockets in the same
place. The trade-off: one user's jobs share one single-threaded object. A user's requests are
serialized there (docs/benchmarks.md has what one object sustains), which also serializes what
must be: the idempotency claim and the create, the database batch.

Crash safety: every handler stores what it owes with each job (`due_ms`) and sets the object's one
alarm to the earliest due before any outbound I/O, so whatever a crash interrupts — the start's
submission included — the alarm finishes. A start's submission runs after its answer, in the same
invocation (`bindings.background`); the alarm is its safety net, not its path.

Its parts: the scheduler's side (user_admission.py), the webhook deliveries (user_webhooks.py), the
job's subscribers — WebSockets, event streams, long-polls (job_feed.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from bindings.alarm_time import AlarmTime
from bindings.do_sql import execute, rows
from bindings.http import request as http_request
from bindings.rpc import Remote
from clock import now_ms
from durable_objects import user_db_sync
from durable_objects.job_feed import JobFeed
from durable_objects.user_admission import Admission
from durable_objects.user_webhooks import Deliveries, dispatch_of
from durable_objects.waiters import TooManyWaiters
from jobs import events, idempotency, store, usage
from jobs.cursor import InvalidCursor, decode_cursor, encode_cursor
from jobs.export_job import ExportJob
from jobs.lifecycle import Ports, due_rule
from jobs.model import JobRecord
from jobs.runpod import RunPodClient
from jobs.store import JobTable
from jobs.usage_ledger import LEDGER_NAME
from outbound import first_line
from refusals import refusal, refused
from scheduling.policy import object_name
from settings import Settings
from webhooks import outbox

log = logging.getLogger("reel.user_jobs")
DUE_BATCH = 50  # jobs the alarm works on at once; the rest are due again right after
FAILED_STEP_PAUSE_MS = 5000  # an alarm step that raised is tried again after this


class UserJobs(Admission, Deliveries, JobFeed):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        # One line per construction: how an operator (and the eviction tests) see that an object was
        # evicted and rebuilt.
        print(f"UserJobs: object constructed ({ctx.id.toString()})")
        sql = ctx.storage.sql
        tables = {r["name"] for r in rows(sql, "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "jobs" in tables:
            # Written by the one-object-per-job layout, whose job objects migration v2 deleted: its index,
            # and its idempotency keys, which name those jobs (a replay must not run one again).
            for old in ("jobs", "idempotency"):
                if old in tables:
                    execute(sql, f"DROP TABLE {old}")
                    tables.discard(old)
        store.ensure_schema(sql, tables)
        idempotency.ensure_schema(sql, tables)
        user_db_sync.ensure_schema(sql, tables)
        outbox.ensure_schema(sql, tables)
        events.ensure_schema(sql, tables)
        self.sql = sql
        self.events = events.EventLog(sql)
        self.settings = settings = Settings.from_env(env)  # fixed for the object's life: parsed once
        # A record saved owing the user's database its state makes sure a database write is due.
        self.jobs = JobTable(sql, due_rule(settings), owed=lambda job: self.db_sync.owe(
            job.user_id, now_ms() + user_db_sync.USER_DB_BATCH_MS))
        ledger = env.USAGE_LEDGER.getByName(LEDGER_NAME)
        self.db_sync = user_db_sync.UserDbSync(sql, env.USER_DATA, self.jobs, lambda entries: ledger.record(entries))
        self.alarm_time = AlarmTime(ctx.storage)
        self._runpod = lambda: RunPodClient(settings.runpod_endpoint, settings.secret("RUNPOD_API_KEY"), http_request)
        self._scheduler = lambda: Remote(env.SCHEDULER.getByName(object_name(settings.runpod_endpoint)))
        self.webhooks = dispatch_of(sql, settings)
        # Messages of a call wait until its alarm is set: a socket never hears of a change whose
        # follow-ups a crash could still strand (storage and setAlarm do not open the input gate, so no
        # other event runs in between).
        self._held: list[tuple[str, list[dict]]] | None = None

    def _job(self, job_id: str) -> ExportJob:
        return ExportJob(Ports(store=self.jobs.one(job_id), runpod=self._runpod,
                                  broadcast=lambda messages: self._broadcast(job_id, messages),
                                  webhook=self._webhook, stale_progress=self.webhooks.outbox.supersede_progress,
                                  scheduler=self._scheduler), self.settings)

    # -- RPC from the API routes and callbacks ---------------------------------------------
    async def start(self, spec: dict, idempotency_key: str | None, fingerprint: str) -> dict:
        """Create the job (once per idempotency key), ask the scheduler for its slot, and when granted
        submit it right after answering (else it is answered `queued`, with its position)."""
        job_id, replayed = spec["job_id"], False
        if idempotency_key:
            claim = idempotency.claim(self.sql, idempotency_key, job_id, fingerprint, now_ms())
            if not claim.same_request:
                return refusal("idempotency_key_reused")
            job_id, replayed = claim.job_id, claim.replayed
        lifecycle = self._job(job_id)
        job, created = lifecycle.create({**spec, "job_id": job_id})
        if created:
            await self._admit(job_id)
        elif not job.terminal:  # a replay: re-drive the job if it lost its alarm
            self.alarm_time.forget()  # the storage's word: is the alarm really there?
            if await self.alarm_time.current() is None:
                await self._schedule()
        return {"job": self.jobs.load(job_id).status_body(), "replayed": replayed}

    async def _submit(self, job_id: str, attempt: int) -> None:
        try:
            await self._job(job_id).submit(attempt)
            await self._schedule()
        except Exception:  # the alarm set before the submission retries it
            log.exception("submission of %s after its start failed; the alarm retries it", job_id)

    # Plain methods where nothing is awaited: a coroutine would cost an event-loop round trip per call.
    def status(self, job_id: str, export_type: str | None = None) -> str | None:
        """The status body as JSON text, which the route hands on as it is (no conversion of an RPC
        result to Python and back); None when there is no such job of `export_type`."""
        job = self.jobs.load(job_id)
        if job is None or (export_type is not None and job.type != export_type):
            return None
        return json.dumps(job.status_body(), separators=(",", ":"))

    async def wait_status(self, job_id: str, export_type: str | None, after_seq: int | None,
                          wait_s: float) -> str | dict | None:
        """`status` once the job has an event after `after_seq` (default: the job's seq now), or after
        `wait_s` seconds: a long-poll, parked on the job's next event (JobFeed.next_change)."""
        if self.status(job_id, export_type) is None:
            return None
        try:
            await self.next_change(job_id, after_seq, wait_s)
        except TooManyWaiters:
            return refusal("too_many_waiters")
        return self.status(job_id, export_type)

    async def cancel(self, job_id: str) -> dict:
        return await self._change(lambda: self._job(job_id).cancel())

    async def callback(self, job_id: str, body: dict, attempt: int = 1) -> dict:
        return await self._change(lambda: self._job(job_id).callback(body, attempt))

    async def retry(self, job_id: str, idempotency_key: str | None) -> dict:
        """Run a finished job again under its id (jobs/attempts.py), once per idempotency key: queued, and
        admitted as a start is."""
        if idempotency_key:
            claim = idempotency.claim(self.sql, idempotency_key, job_id, f"retry {job_id}", now_ms())
            if claim.replayed:
                if not claim.same_request:
                    return refusal("idempotency_key_reused")
                job = self.jobs.load(job_id)
                return {"job": job.status_body(), "replayed": True} if job else refusal("not_found")
        lifecycle = self._job(job_id)
        answer = await self._change(lifecycle.retry)
        if refused(answer):
            if idempotency_key:  # nothing was retried: the key may be used again
                idempotency.release(self.sql, idempotency_key)
            return answer
        await self._admit(job_id)
        return {"job": self.jobs.load(job_id).status_body(), "replayed": False}

    def list_jobs(self, status: str | None, job_type: str | None, limit: int, cursor: str | None) -> dict:
        try:
            after = decode_cursor(cursor) if cursor else None
        except InvalidCursor as exc:
            return {"error": str(exc)}
        found = self.jobs.page(status, job_type, after, limit + 1)
        page = found[:limit]
        next_cursor = encode_cursor(page[-1].created_ms, page[-1].job_id) if len(found) > limit else None
        return {"jobs": [job.status_body() for job in page], "next_cursor": next_cursor}

    def usage(self, from_ms: int, to_ms: int) -> dict:
        """The user's GPU usage over the jobs created in [from_ms, to_ms) (jobs/usage.py)."""
        return usage.report(self.jobs.usage(from_ms, to_ms))

    # -- the alarm ------------------------------------------------------------------------------
    async def alarm(self, alarm_info=None):
        self.alarm_time.fired()
        # Side by side: one job waiting on a slow RunPod answer never holds up another's (each step
        # reads its own row again after every await, so they cannot step on each other).
        due = self.jobs.due_ids(now_ms(), DUE_BATCH)
        outcomes = await asyncio.gather(*(self._job(job_id).run_due() for job_id in due), self.webhooks.send_due(),
                                        return_exceptions=True)
        if isinstance(outcomes[-1], Exception):
            log.error("webhook deliveries failed: %s", first_line(outcomes[-1]))
        outcomes = outcomes[:-1]
        for job_id, outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, Exception):  # still due: the alarm comes back to it after a pause, not in a loop
                log.error("alarm work for job %s failed: %s", job_id, first_line(outcome))
                self.jobs.defer(job_id, now_ms() + FAILED_STEP_PAUSE_MS)
            else:  # due as the settings say now (a deploy may have changed STALL_POLL_S or the default deadlines)
                self.jobs.refresh_due(job_id)
        await self.db_sync.run(now_ms())
        await self._schedule()

    async def _schedule(self) -> None:
        """Make sure the object's one alarm fires by the earliest thing due; clear it when nothing is.

        An alarm set earlier than needed stands: every callback moves its job's watchdog later, and
        re-setting the alarm each time would be a storage call per callback; an early alarm finds
        nothing due and sets the right time itself (`alarm`, which starts by forgetting the spent one)."""
        due = [d for d in (self.jobs.earliest_due(), self.db_sync.due_ms(), self.webhooks.outbox.earliest_due())
               if d is not None]
        if not due:
            await self.alarm_time.set(None)
        else:
            await self.alarm_time.no_later_than(max(now_ms(), min(due)))

    async def _change(self, call: Callable[[], dict]) -> dict:
        """Run a lifecycle call, set the alarm, and only then send the messages it broadcast: a failed
        setAlarm tells nobody."""
        self._held = []
        try:
            answer = call()
            await self._schedule()
            held = self._held
        finally:
            self._held = None
        for job_id, messages in held:
            self.publish(job_id, messages)
        return answer

    def _broadcast(self, job_id: str, messages: list[dict]) -> None:
        # Logged now, in the step that saved the change and numbered them (jobs/events.py); sent live
        # after the alarm is set. No subscriber can join in between: storage and setAlarm keep the
        # input gate closed, so a catch-up from the log and the live sends never overlap or miss.
        self.events.append(job_id, messages, now_ms())
        if self._held is not None:
            self._held.append((job_id, messages))
        else:  # the alarm's steps: its own retry covers a crash, and progress is not held back
            self.publish(job_id, messages)

    # -- the job feed (durable_objects/job_feed.py: WebSockets, event streams, long-polls) -------------
    def find_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.load(job_id)
