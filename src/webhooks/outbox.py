"""A user's webhook outbox in their `UserJobs` object's SQLite storage: deliveries and their attempts.

A delivery is one event of one job for its webhook URL, with the body it carries (the job's status
body when the event happened) and its `id`, the `webhook-id` every attempt of it sends. It is
written in the same synchronous step as the job change that caused it, before the object's alarm is
set, so a process that dies between the event and its delivery delays it and never loses it; an
attempt marks the delivery in flight first, so one interrupted by a crash is tried again (with the
same id: at least once, as the spec allows) once it would have timed out.

`progress` deliveries are coalesced: a new one replaces the job's waiting one, and only one is out at
a time, so a job reporting ten times a second never queues ten deliveries. A replaced one that was
never tried is deleted (the outbox does not grow with a job's reports); one that was tried stays in
the log as `superseded`.
Pure Python over the DO SQL API: the alarm's I/O is the object's (durable_objects/user_jobs.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bindings.do_sql import execute, one_or_none, rows
from clock import iso_ms

PENDING, DELIVERED, FAILED, SUPERSEDED = "pending", "delivered", "failed", "superseded"
IN_FLIGHT_MARGIN_MS = 5000  # beyond the request's own timeout, before an attempt counts as lost


@dataclass(frozen=True)
class Delivery:
    id: str
    job_id: str
    event: str
    url: str
    body: str
    tries: int  # attempts since it was (re)requested: where it stands in the schedule


def ensure_schema(sql: Any, tables: set[str]) -> None:
    if "webhook_deliveries" not in tables:
        execute(sql, """CREATE TABLE webhook_deliveries (id TEXT PRIMARY KEY, job_id TEXT NOT NULL,
            event TEXT NOT NULL, url TEXT NOT NULL, body TEXT NOT NULL, created_ms INTEGER NOT NULL,
            state TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0, in_flight INTEGER NOT NULL DEFAULT 0,
            next_ms INTEGER)""")
        execute(sql, "CREATE INDEX webhook_due ON webhook_deliveries (next_ms) WHERE next_ms IS NOT NULL")
        execute(sql, "CREATE INDEX webhook_of_job ON webhook_deliveries (job_id, created_ms)")
    if "webhook_attempts" not in tables:
        execute(sql, """CREATE TABLE webhook_attempts (delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL,
            at_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL, status INTEGER, error TEXT, excerpt TEXT,
            PRIMARY KEY (delivery_id, attempt))""")


class Outbox:
    def __init__(self, sql: Any) -> None:
        self.sql = sql

    def add(self, delivery_id: str, job_id: str, event: str, url: str, body: str, now_ms: int) -> None:
        if event == "progress":  # the latest wins: a waiting progress delivery is replaced, one out stays
            execute(self.sql, "DELETE FROM webhook_deliveries WHERE job_id = ? AND event = 'progress' AND state = ? "
                              "AND in_flight = 0 AND NOT EXISTS (SELECT 1 FROM webhook_attempts WHERE delivery_id = id)",
                    job_id, PENDING)
            execute(self.sql, "UPDATE webhook_deliveries SET state = ?, next_ms = NULL WHERE job_id = ? "
                              "AND event = 'progress' AND state = ? AND in_flight = 0", SUPERSEDED, job_id, PENDING)
        execute(self.sql, "INSERT INTO webhook_deliveries (id, job_id, event, url, body, created_ms, state, next_ms) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", delivery_id, job_id, event, url, body, now_ms, PENDING,
                now_ms)

    def earliest_due(self) -> int | None:
        row = one_or_none(self.sql, "SELECT MIN(next_ms) AS due FROM webhook_deliveries WHERE next_ms IS NOT NULL")
        return None if row is None or row["due"] is None else int(row["due"])

    def due(self, now_ms: int, limit: int) -> list[Delivery]:
        """Deliveries to try now; a job's progress waits while another progress of it is out."""
        found = rows(self.sql, """SELECT id, job_id, event, url, body, tries FROM webhook_deliveries d
            WHERE next_ms <= ? AND NOT (event = 'progress' AND EXISTS (SELECT 1 FROM webhook_deliveries o
                WHERE o.job_id = d.job_id AND o.event = 'progress' AND o.in_flight = 1 AND o.id != d.id))
            ORDER BY next_ms LIMIT ?""", now_ms, limit)
        return [Delivery(**r) for r in found]

    def begin(self, delivery_id: str, now_ms: int, timeout_s: float) -> int:
        """Mark an attempt out (stored before the request: a crash mid-request retries it); its number."""
        execute(self.sql, "UPDATE webhook_deliveries SET in_flight = 1, tries = tries + 1, next_ms = ? WHERE id = ?",
                now_ms + int(timeout_s * 1000) + IN_FLIGHT_MARGIN_MS, delivery_id)
        row = one_or_none(self.sql, "SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id = ?", delivery_id)
        return int(row["n"]) + 1

    def finish(self, delivery_id: str, attempt: int, now_ms: int, duration_ms: int, *, status: int | None,
               error: str | None, excerpt: str | None, schedule_s: tuple[int, ...]) -> None:
        """Log the attempt; delivered on a 2xx, else due again per the schedule, or failed past its end."""
        execute(self.sql, "INSERT OR REPLACE INTO webhook_attempts (delivery_id, attempt, at_ms, duration_ms, status, "
                          "error, excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)",
                delivery_id, attempt, now_ms - duration_ms, duration_ms, status, error, excerpt)
        current = one_or_none(self.sql, "SELECT tries, state FROM webhook_deliveries WHERE id = ?", delivery_id)
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
        if state == DELIVERED:
            self._forget_older_progress(delivery_id)

    def _forget_older_progress(self, delivered_id: str) -> None:
        """Once a progress delivery is delivered, the job's older delivered ones say nothing more: they go,
        with their attempts, so a long job reporting every second keeps a log of a few rows, not thousands."""
        older = rows(self.sql, """SELECT o.id FROM webhook_deliveries o JOIN webhook_deliveries d ON d.id = ?
            WHERE d.event = 'progress' AND o.job_id = d.job_id AND o.event = 'progress' AND o.state = ?
            AND o.id != d.id AND o.created_ms <= d.created_ms""", delivered_id, DELIVERED)
        for r in older:
            execute(self.sql, "DELETE FROM webhook_attempts WHERE delivery_id = ?", r["id"])
            execute(self.sql, "DELETE FROM webhook_deliveries WHERE id = ?", r["id"])

    def redeliver(self, job_id: str, delivery_id: str, now_ms: int) -> str:
        """Send a delivery of this job again now, with a fresh schedule: "pending", or "missing" when the
        job has no such delivery, or "in_flight" when an attempt of it is out right now."""
        found = one_or_none(self.sql, "SELECT in_flight FROM webhook_deliveries WHERE id = ? AND job_id = ?",
                            delivery_id, job_id)
        if found is None:
            return "missing"
        if found["in_flight"]:
            return "in_flight"
        execute(self.sql, "UPDATE webhook_deliveries SET state = ?, tries = 0, next_ms = ? WHERE id = ?",
                PENDING, now_ms, delivery_id)
        return PENDING

    def of_job(self, job_id: str) -> list[dict]:
        """The job's deliveries, oldest first, each with its attempts: the delivery log as the API shows it."""
        deliveries = rows(self.sql, "SELECT id, event, url, state, created_ms, next_ms FROM webhook_deliveries "
                                    "WHERE job_id = ? ORDER BY created_ms, id", job_id)
        attempts = rows(self.sql, "SELECT a.* FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = "
                                  "a.delivery_id WHERE d.job_id = ? ORDER BY a.delivery_id, a.attempt", job_id)
        by: dict[str, list[dict]] = {}
        for a in attempts:
            by.setdefault(a["delivery_id"], []).append({
                "attempt": a["attempt"], "at": iso_ms(a["at_ms"]), "duration_ms": a["duration_ms"],
                "status": a["status"], "error": a["error"], "response_excerpt": a["excerpt"]})
        return [{"id": d["id"], "event": d["event"], "url": d["url"], "state": d["state"],
                 "created_at": iso_ms(d["created_ms"]),
                 "next_attempt_at": None if d["next_ms"] is None else iso_ms(d["next_ms"]),
                 "attempts": by.get(d["id"], [])} for d in deliveries]
