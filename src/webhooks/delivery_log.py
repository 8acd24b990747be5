"""The webhook delivery log: the outbox's tables (webhooks/outbox.py writes them), the log as the API
shows it (`GET /api/export/jobs/{id}/deliveries`), and keeping it small.

A delivery is `pending` (due, waiting for its retry, or out), `delivered` (a 2xx), `failed` (its
schedule spent) or `superseded` (a progress that a newer event of its job made stale). A job
reporting progress every second for an hour would leave thousands of settled progress deliveries;
only the newest of each state is kept (with its attempts), which is what the log can say about them:
the last one that arrived, the last one replaced, the last one given up on.
"""

from __future__ import annotations

from typing import Any

from bindings.do_sql import execute, rows
from clock import iso_ms

PENDING, DELIVERED, FAILED, SUPERSEDED = "pending", "delivered", "failed", "superseded"


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


def prune_progress(sql: Any, job_id: str) -> None:
    """Forget the job's settled progress deliveries (not pending, not out) that a newer one of the same
    state follows, with their attempts."""
    older = rows(sql, """SELECT o.id FROM webhook_deliveries o WHERE o.job_id = ? AND o.event = 'progress'
        AND o.state != ? AND o.in_flight = 0 AND EXISTS (SELECT 1 FROM webhook_deliveries n
            WHERE n.job_id = o.job_id AND n.event = 'progress' AND n.state = o.state AND n.in_flight = 0
            AND (n.created_ms > o.created_ms OR (n.created_ms = o.created_ms AND n.id > o.id)))""", job_id, PENDING)
    for r in older:
        execute(sql, "DELETE FROM webhook_attempts WHERE delivery_id = ?", r["id"])
        execute(sql, "DELETE FROM webhook_deliveries WHERE id = ?", r["id"])


def log_of_job(sql: Any, job_id: str) -> list[dict]:
    """The job's deliveries, oldest first, each with its attempts."""
    deliveries = rows(sql, "SELECT id, event, url, state, created_ms, next_ms FROM webhook_deliveries "
                           "WHERE job_id = ? ORDER BY created_ms, id", job_id)
    attempts = rows(sql, "SELECT a.* FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = "
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
