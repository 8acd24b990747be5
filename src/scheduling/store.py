"""The scheduler's rules in SQL over its tables (scheduling/schema.py), on a Durable Object's
`ctx.storage.sql` (synchronous; the unit tests run it on CPython's sqlite3 through tests/fakes/do_sql.py).

Each method is a few statements with no `await` between them: atomic, in a Durable Object. After
every change a freed slot is given away at once (`dispatch`), so a slot is free only while nobody
who may take it waits: a start that finds one free takes it without a look at the queue.
"""

from __future__ import annotations

from typing import Any

from backoff import backoff_ms
from bindings.do_sql import execute, one_or_none, rows
from clock import iso_ms
from scheduling import policy, schema, turns
from scheduling.policy import Limits
from scheduling.schema import HELD, OFFERED

__all__ = ["HELD", "OFFERED", "SchedulerStore"]

# The next user to serve: served least recently, with waiting jobs, under their own limit, while a slot is free.
_NEXT_USER = """SELECT u.user_id FROM users u
    WHERE (SELECT COUNT(*) FROM slots) < ? AND EXISTS (SELECT 1 FROM waiting w WHERE w.user_id = u.user_id)
      AND (SELECT COUNT(*) FROM slots s WHERE s.user_id = u.user_id) < ?
    ORDER BY u.last_served, u.joined LIMIT 1"""
# All an ask needs to know, in one read: the attempt's slot or place, the slots in use (all, the user's),
# whether the user waits, and whether a slot is free while anyone waits (only after the limits were raised).
_ASKED = """SELECT (SELECT state FROM slots WHERE job_id = ? AND attempt = ?) AS slot,
    EXISTS (SELECT 1 FROM waiting WHERE job_id = ? AND attempt = ?) AS queued,
    (SELECT COUNT(*) FROM slots) AS total, (SELECT COUNT(*) FROM slots WHERE user_id = ?) AS mine,
    EXISTS (SELECT 1 FROM waiting WHERE user_id = ?) AS waits,
    (SELECT COUNT(*) FROM slots) < ? AND EXISTS (SELECT 1 FROM waiting) AS free_while_waiting"""
# turns.py: position(u, i) = sum over v of min(n_v, i) + #{v before u : n_v > i} + 1, u's own term being i.
_POSITION = """WITH me AS (SELECT w.user_id, u.last_served, u.joined, (SELECT COUNT(*) FROM waiting o
        WHERE o.user_id = w.user_id AND (o.rank < w.rank OR (o.rank = w.rank AND o.seq < w.seq))) AS i
        FROM waiting w JOIN users u ON u.user_id = w.user_id WHERE w.job_id = ? AND w.attempt = ?),
    counts AS (SELECT u.user_id, u.last_served, u.joined, COUNT(*) AS n
        FROM users u JOIN waiting w ON w.user_id = u.user_id GROUP BY u.user_id)
    SELECT 1 + SUM(MIN(c.n, me.i)) + SUM(c.user_id != me.user_id AND c.n > me.i
        AND (c.last_served, c.joined) < (me.last_served, me.joined)) AS position FROM counts c, me"""
_NEXT_DUE = """SELECT MIN(due) AS due FROM (SELECT MIN(offer_due_ms) AS due FROM slots WHERE offer_due_ms IS NOT NULL
    UNION ALL SELECT MIN(lease_until) FROM slots UNION ALL SELECT positions_due_ms FROM meta)"""


class SchedulerStore:
    def __init__(self, sql: Any, limits: Limits) -> None:
        self._sql, self.limits = sql, limits
        schema.ensure(sql)

    # -- asked by the users' objects -----------------------------------------------------------
    def acquire(self, user_id: str, job_id: str, attempt: int, rank: int, lease_ms: int, now: int) -> dict:
        """A slot for the attempt now (`{"granted": True}`), or its place in the queue (`{"granted": False,
        "position": n}`). Asking again answers the same (an offered slot is then taken by the answer)."""
        seen = self._asked(user_id, job_id, attempt)
        if seen["slot"] is None and not seen["queued"]:
            raised = seen["free_while_waiting"]  # the limits were raised: free slots go round robin
            if not raised and seen["total"] < self.limits.total and seen["mine"] < self.limits.per_user \
                    and not seen["waits"]:
                self._grant(user_id, job_id, attempt, lease_ms, now, HELD)  # the one-RPC start under the limits
                return {"granted": True}
            execute(self._sql, "INSERT OR IGNORE INTO users (user_id) VALUES (?)", user_id)
            execute(self._sql, "INSERT INTO waiting (job_id, attempt, user_id, rank, lease_ms) VALUES (?, ?, ?, ?, ?)",
                    job_id, attempt, user_id, rank, lease_ms)
            self._positions_changed(now)
            if raised:
                self.dispatch(now)
                seen = self._asked(user_id, job_id, attempt)
        if seen["slot"] is not None:
            if seen["slot"] == OFFERED:
                self.taken(job_id, attempt)
            return {"granted": True}
        return {"granted": False, "position": self.position_of(job_id, attempt)}

    def release(self, job_id: str, below: int, now: int) -> int:
        """Free the slots and drop the waiting rows of the job's attempts below `below`; how many."""
        freed = rows(self._sql, "DELETE FROM slots WHERE job_id = ? AND attempt < ? RETURNING user_id", job_id, below)
        dropped = rows(self._sql, "DELETE FROM waiting WHERE job_id = ? AND attempt < ? RETURNING user_id",
                       job_id, below)
        self._after_removal(freed, dropped, now)
        return len(freed) + len(dropped)

    # -- grants, and pushing them ------------------------------------------------------------
    def dispatch(self, now: int) -> int:
        """Give every free slot away, round robin (scheduling/turns.py); how many were granted. A grant
        is stored `offered`: the alarm tells the user's object."""
        granted = 0
        while (user := one_or_none(self._sql, _NEXT_USER, self.limits.total, self.limits.per_user)) is not None:
            job = one_or_none(self._sql, """SELECT job_id, attempt, lease_ms FROM waiting WHERE user_id = ?
                ORDER BY rank, seq LIMIT 1""", user["user_id"])
            execute(self._sql, "DELETE FROM waiting WHERE job_id = ? AND attempt = ?", job["job_id"], job["attempt"])
            self._grant(user["user_id"], job["job_id"], job["attempt"], job["lease_ms"], now, OFFERED)
            granted += 1
        if granted:
            self._positions_changed(now)
        return granted

    def offers_due(self, now: int, limit: int) -> list[dict]:
        return rows(self._sql, """SELECT job_id, attempt, user_id FROM slots WHERE offer_due_ms <= ?
            ORDER BY offer_due_ms LIMIT ?""", now, limit)

    def taken(self, job_id: str, attempt: int) -> None:
        execute(self._sql, """UPDATE slots SET state = ?, offer_due_ms = NULL, offer_failures = 0
            WHERE job_id = ? AND attempt = ?""", HELD, job_id, attempt)

    def refused(self, job_id: str, attempt: int, now: int) -> None:
        """The user's object does not want the slot (the job was cancelled, ended or is gone): free it."""
        freed = rows(self._sql, "DELETE FROM slots WHERE job_id = ? AND attempt = ? RETURNING user_id", job_id, attempt)
        self._after_removal(freed, [], now)

    def offer_failed(self, job_id: str, attempt: int, now: int) -> None:
        """The push failed: again after a backoff, for as long as the lease lasts."""
        row = one_or_none(self._sql, """UPDATE slots SET offer_failures = offer_failures + 1
            WHERE job_id = ? AND attempt = ? AND state = ? RETURNING offer_failures""", job_id, attempt, OFFERED)
        if row is not None:
            due = now + backoff_ms(policy.OFFER_BACKOFF_BASE_S, row["offer_failures"], policy.OFFER_BACKOFF_MAX_S)
            execute(self._sql, "UPDATE slots SET offer_due_ms = ? WHERE job_id = ? AND attempt = ?", due, job_id, attempt)

    def expire(self, now: int) -> list[dict]:
        """Free the slots whose lease ran out (their user's object never released them); which."""
        gone = rows(self._sql, """DELETE FROM slots WHERE lease_until <= ?
            RETURNING user_id, job_id, attempt, state, granted_ms""", now)
        self._after_removal(gone, [], now)
        return gone

    def next_due(self) -> int | None:
        """When the alarm has work next: a grant to push, a lease to end, positions to push."""
        found = one_or_none(self._sql, _NEXT_DUE)
        return None if found is None or found["due"] is None else int(found["due"])

    # -- positions -----------------------------------------------------------------------------
    def position_of(self, job_id: str, attempt: int) -> int | None:
        """One waiting attempt's position (turns.py's formula), in one query: an ask's answer costs the
        same however many users wait (no row per user crosses into Python)."""
        found = one_or_none(self._sql, _POSITION, job_id, attempt)
        return None if found is None or found["position"] is None else int(found["position"])

    def positions(self) -> dict[tuple[str, int], tuple[str, int]]:
        """Every waiting attempt's position: {(job id, attempt): (user id, position)}."""
        order, counts = self._turn_order()
        placed = turns.positions(order, counts)
        seen: dict[str, int] = {}
        found: dict[tuple[str, int], tuple[str, int]] = {}
        for r in rows(self._sql, "SELECT user_id, job_id, attempt FROM waiting ORDER BY user_id, rank, seq"):
            index = seen[r["user_id"]] = seen.get(r["user_id"], -1) + 1
            found[(r["job_id"], int(r["attempt"]))] = (r["user_id"], placed[r["user_id"]][index])
        return found

    def positions_due(self, now: int) -> bool:
        due = one_or_none(self._sql, "SELECT positions_due_ms AS due FROM meta")["due"]
        return due is not None and due <= now

    def positions_pushed(self, now: int, users: int, again: bool = False) -> None:
        """The positions as of now go to `users` users' objects: the next push waits policy.positions_pause_ms
        (`again`: a push failed, so they are due then whatever changes)."""
        after = now + policy.positions_pause_ms(users)
        execute(self._sql, "UPDATE meta SET positions_due_ms = ?, positions_next_ms = ?", after if again else None, after)

    # -- what GET /api/scheduler shows -----------------------------------------------------------
    def snapshot(self) -> dict:
        slots = rows(self._sql, "SELECT user_id, job_id, attempt, state, lease_until FROM slots ORDER BY granted_ms")
        waiting = rows(self._sql, "SELECT user_id, COUNT(*) AS n FROM waiting GROUP BY user_id ORDER BY user_id")
        return {"limits": {"per_user": self.limits.per_user, "total": self.limits.total}, "slots_in_use": len(slots),
                "slots": [{**s, "lease_until": iso_ms(s["lease_until"])} for s in slots],
                "waiting": {w["user_id"]: int(w["n"]) for w in waiting}}

    # -- helpers ------------------------------------------------------------------------------
    def _grant(self, user_id: str, job_id: str, attempt: int, lease_ms: int, now: int, state: str) -> None:
        execute(self._sql, """INSERT INTO slots (job_id, attempt, user_id, state, granted_ms, lease_until, offer_due_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?)""", job_id, attempt, user_id, state, now, now + lease_ms,
                now if state == OFFERED else None)
        turn = one_or_none(self._sql, "UPDATE meta SET turn = turn + 1 RETURNING turn")["turn"]
        execute(self._sql, """INSERT INTO users (user_id, last_served) VALUES (?, ?)
            ON CONFLICT (user_id) DO UPDATE SET last_served = excluded.last_served""", user_id, turn)

    def _asked(self, user_id: str, job_id: str, attempt: int) -> dict:
        return one_or_none(self._sql, _ASKED, job_id, attempt, job_id, attempt, user_id, user_id, self.limits.total)

    def _after_removal(self, freed: list[dict], dropped: list[dict], now: int) -> None:
        if dropped:
            self._positions_changed(now)
        if freed:
            self.dispatch(now)
        for user_id in {r["user_id"] for r in (*freed, *dropped)}:  # forgotten once they have neither
            execute(self._sql, """DELETE FROM users WHERE user_id = ?
                AND NOT EXISTS (SELECT 1 FROM slots WHERE user_id = ?)
                AND NOT EXISTS (SELECT 1 FROM waiting WHERE user_id = ?)""", user_id, user_id, user_id)

    def _positions_changed(self, now: int) -> None:
        """Positions are to be pushed: at once, or when the pause after the last push is over."""
        execute(self._sql, "UPDATE meta SET positions_due_ms = MAX(?, positions_next_ms) WHERE positions_due_ms IS NULL",
                now)

    def _turn_order(self) -> tuple[list[str], dict[str, int]]:
        found = rows(self._sql, """SELECT u.user_id, COUNT(*) AS n FROM users u JOIN waiting w ON w.user_id = u.user_id
            GROUP BY u.user_id ORDER BY u.last_served, u.joined""")
        return [r["user_id"] for r in found], {r["user_id"]: int(r["n"]) for r in found}
