"""A job's attempts: running it again under the same id, by request or after a failure that was not
the input's fault. Pure: no I/O.

A job is one record; each run of it at RunPod is an attempt. A new attempt archives the current one
(RunPod id, times, outcome, error, usage) into `attempts_json`, adds its usage to the `prior_*` sums,
and starts the record over as `queued` (for a slot of its own) with the next number. Callback URLs carry the attempt
(auth/callback_sig.py), so a late report of an earlier attempt never moves the current one; only its
usage is kept, on the archived attempt (RunPod's webhook with the final `executionTime` often comes
after the GPU worker's own report that started the retry).

Automatic retries (docs/api.md "Retries"): an error that is not the input's — the GPU worker's
report says `retryable: true` (its internal errors), RunPod's FAILED (the handler failed without
reporting: a crash), RunPod's TIMED_OUT before the execution timeout (the worker was lost), RunPod
no longer knowing the job (jobs/export_job.py's watchdog) — runs again up to JOB_MAX_ATTEMPTS
attempts. Input errors, deadlines (`expired`, `timed_out`) and cancels never are; a request may
retry those.
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

from backoff import backoff_ms
from jobs import admission, usage
from jobs.callbacks import Update
from jobs.deadlines import Limits
from jobs.followups import DONE
from jobs.model import ERROR, EXPIRED, PENDING, RETRYABLE, TIMED_OUT, JobRecord
from jobs.state import Outcome

MAX_ATTEMPTS = 20  # attempts a job may have in all, requested ones included: its record stays small
RETRY_BACKOFF_BASE_S, RETRY_BACKOFF_MAX_S = 2.0, 60.0  # an automatic retry waits 2 s, 4 s, ... (at most 60 s)
TIMEOUT_SLACK_MS = 1000  # RunPod's clock and ours: a TIMED_OUT this close to the limit is the limit


def interpret_timeout(job: JobRecord, update: Update, now_ms: int, limits: Limits) -> Update:
    """What RunPod's TIMED_OUT means for this attempt: it never ran (its TTL passed: `expired`), it ran
    past its execution timeout (`timed_out`), or it stopped before that (a lost worker: a retryable error)."""
    if job.running_ms is None and not update.execution_ms:
        return replace(update, kind=EXPIRED, error="No GPU took the job before RunPod's TTL passed")
    _, execution_timeout_s = limits.of(job)
    ran_ms = update.execution_ms if update.execution_ms is not None else now_ms - (job.running_ms or now_ms)
    if ran_ms >= execution_timeout_s * 1000 - TIMEOUT_SLACK_MS:
        return replace(update, kind=TIMED_OUT, running=True,
                       error=f"Ran longer than its execution timeout ({execution_timeout_s} s)")
    return replace(update, kind=ERROR, running=True, retryable=True,
                   error="The GPU worker stopped before the job ended (RunPod TIMED_OUT)")


def retries_automatically(job: JobRecord, retryable: bool, max_attempts: int) -> bool:
    """Whether a job that just failed (`retryable`: not the input's fault) runs again by itself."""
    return retryable and job.status == ERROR and job.attempt < min(max_attempts, MAX_ATTEMPTS)


def retry_refusal(job: JobRecord) -> str | None:
    """Why a request may not retry the job now (a refusal code), or None."""
    if job.status not in RETRYABLE:
        return "not_retryable"
    if job.attempt >= MAX_ATTEMPTS:
        return "too_many_attempts"
    return None


def begin_next(job: JobRecord, now_ms: int, *, failure: str | None = None) -> Outcome:
    """Archive the current attempt (ended: the job is terminal) and start the next: `queued`, asking for
    a slot when due (at once after a request; after a backoff after a `failure`, which `retrying` carries)."""
    earlier = [*job.earlier_attempts(), job.current_attempt()]
    job.attempts_json = json.dumps(earlier, separators=(",", ":"))
    job.prior_queue_ms, job.prior_execution_ms, job.prior_cost_micro_usd = job.usage_total()
    if job.cancel.pending:  # the earlier attempt's cancel at RunPod still goes out
        job.cancel_runpod_id = job.cancel_runpod_id or job.runpod_id
    else:
        job.cancel, job.cancel_runpod_id = DONE, None
    delay_ms = backoff_ms(RETRY_BACKOFF_BASE_S, job.attempt, RETRY_BACKOFF_MAX_S) if failure else 0
    job.attempt += 1
    job.attempt_ms = job.updated_ms = job.last_signal_ms = now_ms
    job.status, job.progress, job.message, job.error = PENDING, 0, None, None
    job.runpod_id = job.started_ms = job.completed_ms = job.running_ms = None
    job.queue_ms = job.execution_ms = job.cost_micro_usd = None
    job.submit_attempts, job.submit_waiting, job.next_submit_ms = 0, 0, now_ms + delay_ms
    admission.enqueue(job, now_ms + delay_ms)  # queued for a slot of its own; the last attempt's is released
    job.owe_records()
    message = {"type": "retrying", "job_id": job.job_id, "attempt": job.attempt}
    if failure:
        message["error"] = failure
    return Outcome(changed=True, new_status=True, messages=[message])


def record_late_usage(job: JobRecord, attempt: int, update: Update, price_per_s: float | None) -> bool:
    """Keep the usage a report of an earlier attempt carries, on that attempt and in the job's sums;
    True when anything changed."""
    earlier = job.earlier_attempts()
    entry = next((a for a in earlier if a["attempt"] == attempt), None)
    if entry is None:
        return False
    seen = SimpleNamespace(queue_ms=entry["queue_ms"], execution_ms=entry["execution_ms"],
                           cost_micro_usd=entry["cost_micro_usd"])
    if not usage.record(seen, update, price_per_s):  # type: ignore[arg-type] - the three usage fields
        return False
    for name in ("queue_ms", "execution_ms", "cost_micro_usd"):
        new, old = getattr(seen, name), entry[name]
        if new is not None and new != old:
            prior = f"prior_{name}"
            setattr(job, prior, (getattr(job, prior) or 0) + new - (old or 0))
            entry[name] = new
    job.attempts_json = json.dumps(earlier, separators=(",", ":"))
    return True
