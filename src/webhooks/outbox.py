"""A user's webhook outbox in their `UserJobs` object's SQLite storage: deliveries and their attempts.

A delivery is one event of one job for its webhook URL, with the body it carries (the job's status
body when the event happened) and its `id`, the `webhook-id` every attempt of it sends. It is
written in the same synchronous step as the job change that caused it, before the object's alarm is
set, so a process that dies between the event and its delivery delays it and never loses it; an
attempt marks the delivery in flight first, so one interrupted by a crash is tried again (with the
same id: at least once, as the spec allows) once it would have timed out.

`progress` deliveries are coalesced, the latest wins: any newer event of the job (a newer progress,
`started`, `retrying`, `completed`) supersedes its pending progress deliveries. One never tried is
deleted (the outbox does not grow with a job's reports); one tried, or out right now, becomes
`superseded`: it is never tried again, so a stale progress never reaches the receiver after the
newer event (an attempt already out is finished, not repeated; one lost to a crash is dropped). At
most one progress delivery of a job is out at a time; the next waits for it, and is due no sooner
than that attempt would time out, so the alarm never wakes for a delivery it may not send yet. Of a
job's settled progress deliveries only the newest of each state stays in the log (pruning).

The earliest due time is cached: the object's alarm asks for it after every change of any job, and
this class is the only writer of its tables, so every write of it forgets the cached value.
Pure Python over the DO SQL API: the alarm's I/O is the object's (durable_objects/user_jobs.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bindings.do_sql import execute, one_or_none, rows
from webhooks.delivery_log import DELIVERED, FAILED, PENDING, SUPERSEDED, log_of_job, prune_progress
from webhooks.delivery_log import ensure_schema as ensure_schema

IN_FLIGHT_MARGIN_MS = 5000  # beyond the request's own timeout, before an attempt counts as lost
_UNKNOWN = object()

# When another progress delivery of the row's job is out: when that attempt would time out (NULL if none).
_OUT_UNTIL = ("(SELECT MAX(o.next_ms) FROM webhook_deliveries o WHERE o.job_id = d.job_id "
              "AND o.event = 'progress' AND o.in_flight = 1 AND o.id != d.id)")
# A row's real due time: a progress waiting behind another of its job is due when that one's attempt ends.
_DUE_AT = f"CASE WHEN d.event = 'progress' THEN MAX(d.next_ms, COALESCE({_OUT_UNTIL}, 0)) ELSE d.next_ms END"


@dataclass(frozen=True)
class Delivery:
    id: str
    job_id: str
    event: str
    url: str
    body: str
    tries: int  # attempts since it was (re)requested: where it stands in the schedule


class Outbox:
    def __init__(self, sql: Any) -> None:
        self.sql = sql
        self._earliest: Any = _UNKNOWN  # epoch ms, None for nothing due, or _UNKNOWN

    def add(self, delivery_id: str, job_id: str, event: str, url: str, body: str, now_ms: int) -> None:
        """Store a delivery, due at once; it supersedes the job's pending progress deliveries."""
        self.supersede_progress(job_id)
        execute(self.sql, "INSERT INTO webhook_deliveries (id, job_id, event, url, body, created_ms, state, next_ms) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", delivery_id, job_id, event, url, body, now_ms, PENDING,
                now_ms)

    def supersede_progress(self, job_id: str) -> None:
        """The job has a newer state: its pending progress deliveries are stale. Never tried: gone; tried or
        out: `superseded` (one out keeps its in-flight deadline, when `drop_lost` clears it after a crash)."""
        self._earliest = _UNKNOWN
        execute(self.sql, "DELETE FROM webhook_deliveries WHERE job_id = ? AND event = 'progress' AND state = ? "
                          "AND in_flight = 0 AND NOT EXISTS (SELECT 1 FROM webhook_attempts WHERE delivery_id = id)",
                job_id, PENDING)
        if execute(self.sql, "UPDATE webhook_deliveries SET state = ?, next_ms = CASE WHEN in_flight = 1 "
                             "THEN next_ms END WHERE job_id = ? AND event = 'progress' AND state = ?",
                   SUPERSEDED, job_id, PENDING):
            prune_progress(self.sql, job_id)  # one more settled: the log keeps the newest

    def earliest_due(self) -> int | None:
        """When the alarm must next run for the outbox (a delivery due, or an attempt's deadline); None when never."""
        if self._earliest is _UNKNOWN:
            row = one_or_none(self.sql, f"SELECT MIN({_DUE_AT}) AS due FROM webhook_deliveries d "  # noqa: S608
                                        "WHERE next_ms IS NOT NULL")
            self._earliest = None if row is None or row["due"] is None else int(row["due"])
        return self._earliest

    def drop_lost(self, now_ms: int) -> None:
        """Attempts of superseded deliveries lost to a crash (out past their deadline) are not tried again."""
        due = self.earliest_due()
        if due is None or due > now_ms:
            return  # nothing is due, lost attempts included: no query
        self._earliest = _UNKNOWN
        execute(self.sql, "UPDATE webhook_deliveries SET in_flight = 0, next_ms = NULL WHERE in_flight = 1 "
                          "AND state != ? AND next_ms <= ?", PENDING, now_ms)

    def due(self, now_ms: int, limit: int) -> list[Delivery]:
        """Deliveries to try now; a job's progress waits while another progress of it is out."""
        found = rows(self.sql, f"""SELECT id, job_id, event, url, body, tries FROM webhook_deliveries d
            WHERE next_ms <= ? AND state = ? AND NOT (event = 'progress' AND {_OUT_UNTIL} IS NOT NULL)
            ORDER BY next_ms LIMIT ?""", now_ms, PENDING, limit)  # noqa: S608 - the constant subquery
        return [Delivery(**r) for r in found]

    def begin(self, delivery_id: str, now_ms: int, timeout_s: float) -> int:
        """Mark an attempt out (stored before the request: a crash mid-request retries it); its number."""
        self._earliest = _UNKNOWN
        execute(self.sql, "UPDATE webhook_deliveries SET in_flight = 1, tries = tries + 1, next_ms = ? WHERE id = ?",
                now_ms + int(timeout_s * 1000) + IN_FLIGHT_MARGIN_MS, delivery_id)
        row = one_or_none(self.sql, "SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id = ?", delivery_id)
        return int(row["n"]) + 1

    def finish(self, delivery_id: str, attempt: int, now_ms: int, duration_ms: int, *, status: int | None,
               error: str | None, excerpt: str | None, schedule_s: tuple[int, ...]) -> None:
        """Log the attempt; delivered on a 2xx, else due again per the schedule, or failed past its end; a
        superseded one is not tried again."""
        self._earliest = _UNKNOWN
        execute(self.sql, "INSERT OR REPLACE INTO webhook_attempts (delivery_id, attempt, at_ms, duration_ms, status, "
                          "error, excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)",
                delivery_id, attempt, now_ms - duration_ms, duration_ms, status, error, excerpt)
        current = one_or_none(self.sql, "SELECT job_id, event, tries, state FROM webhook_deliveries WHERE id = ?",
                              delivery_id)
        if current is None:
            return
        if status is not None and 200 <= status <= 299:
            state, next_ms = DELIVERED, None
        elif current["state"] != PENDING:  # superseded while it was out: nothing more to do for it
            state, next_ms = current["state"], None
        elif current["tries"] <= len(schedule_s):
            state, next_ms = PENDING, now_ms + schedule_s[current["tries"] - 1] * 1000
        else:
            state, next_ms = FAILED, None
        execute(self.sql, "UPDATE webhook_deliveries SET in_flight = 0, state = ?, next_ms = ? WHERE id = ?",
                state, next_ms, delivery_id)
        if current["event"] == "progress":
            prune_progress(self.sql, current["job_id"])

    def url_of(self, job_id: str, delivery_id: str) -> str | None:
        """Where a delivery of this job goes; None when the job has no such delivery."""
        found = one_or_none(self.sql, "SELECT url FROM webhook_deliveries WHERE id = ? AND job_id = ?",
                            delivery_id, job_id)
        return None if found is None else found["url"]

    def redeliver(self, job_id: str, delivery_id: str, now_ms: int) -> str:
        """Send a delivery of this job again now, with a fresh schedule: "pending", or "missing" when the
        job has no such delivery, or "in_flight" when an attempt of it is out right now."""
        found = one_or_none(self.sql, "SELECT in_flight FROM webhook_deliveries WHERE id = ? AND job_id = ?",
                            delivery_id, job_id)
        if found is None:
            return "missing"
        if found["in_flight"]:
            return "in_flight"
        self._earliest = _UNKNOWN
        execute(self.sql, "UPDATE webhook_deliveries SET state = ?, tries = 0, next_ms = ? WHERE id = ?",
                PENDING, now_ms, delivery_id)
        return PENDING

    def of_job(self, job_id: str) -> list[dict]:
        """The job's deliveries, oldest first, each with its attempts: the delivery log as the API shows it."""
        return log_of_job(self.sql, job_id)
