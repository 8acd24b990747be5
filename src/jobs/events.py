"""A job's events: their numbers (`seq`) and the bounded log a subscriber that missed some is replayed from.

Every message a job sends its subscribers (WebSocket, server-sent events, a long-poll's wake) is an event
numbered 1, 2, 3, ... over the job's whole life, its retries included. `stamp` numbers a change's
messages in the step that saves the record (jobs/lifecycle.save_change), and the record keeps the last
number (`JobRecord.seq`), so the number and the change are stored together: a crash can neither give two
events one number nor skip one that was stored. The shell appends them to the log in that same
synchronous step (no `await` in between: the object's storage commits both or neither).

The log (`job_events`, in the user's object) keeps, per job:
- every event that is not a progress report: status changes, ends, retries;
- progress thinned: within a run of progress events (those after the job's last other event) one per
  band of PROGRESS_BAND %, a newer report replacing the older one of its band. The newest event is never
  thinned, so the log ends with the job's last event, and what thinning drops a later progress says;
- a queued job's place in line (`queued` events) thinned the same way, the latest kept;
- at most MAX_EVENTS rows: beyond them the oldest go, and a `gap` row takes the number of the newest one
  dropped. A subscriber whose `since` is before the gap is sent a status snapshot instead.

Jobs are never deleted today; if they are some day, `forget` deletes a job's events with it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from bindings.do_sql import execute, one_or_none, rows
from bounds import MAX_INT, read_decimal
from jobs.model import TERMINAL, JobRecord

TABLE = "job_events"
PROGRESS, GAP = "progress", "gap"
PROGRESS_BAND = 5  # % of progress per kept progress event: at most 21 per run of progress
# A queued job's moves in line (`queued` events, about one a second while it waits) are thinned like
# progress, in a band of their own: only the latest place is worth replaying.
QUEUED_MOVE, QUEUED_BAND = "queued", -1
MAX_EVENTS = 200  # rows per job, the gap row included: a job with 20 attempts of status changes still fits

_INSERT = f"INSERT OR REPLACE INTO {TABLE} (job_id, seq, type, band, body, at_ms) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
# The older report of a band in the current run: after the job's last event that is not progress.
_THIN = (f"DELETE FROM {TABLE} WHERE job_id = ? AND band = ? AND seq > "  # noqa: S608 - the table's own name
         f"(SELECT COALESCE(MAX(seq), 0) FROM {TABLE} WHERE job_id = ? AND band IS NULL)")


def stamp(job: JobRecord, messages: list[dict]) -> None:
    """Number `messages` (in place) after the job's last event; `job.seq` moves with them."""
    for message in messages:
        job.seq += 1
        message["seq"] = job.seq


def ends_job(message: dict) -> bool:
    """Whether an event says the job has ended (no event follows it unless someone retries the job)."""
    kind = message.get("type")
    return kind in TERMINAL or (kind == "status" and message.get("status") in TERMINAL)


class InvalidSeq(ValueError):
    """A `since` or `Last-Event-ID` that is not a seq; `loc` names it as validation errors do."""

    def __init__(self, loc: list[str]) -> None:
        super().__init__(f"{loc[-1]} must be a non-negative integer up to {MAX_INT}: the seq of the last event seen")
        self.loc = loc

    def details(self) -> list[dict]:
        return [{"loc": self.loc, "msg": str(self), "type": "value_error"}]


def since_of(query: str, last_event_id: str | None = None) -> int | None:
    """The seq a subscriber has seen, from `Last-Event-ID` (what an EventSource sends when it reconnects,
    so it wins) or else `?since=` (once); None when neither is given. InvalidSeq for anything but a
    non-negative decimal integer within the API's integer bound."""
    if last_event_id is not None:
        text, loc = last_event_id, ["header", "Last-Event-ID"]
    else:
        given = parse_qs(query, keep_blank_values=True).get("since", [])
        if not given:
            return None
        text, loc = (given[0] if len(given) == 1 else ""), ["query", "since"]
    value = read_decimal(text)
    if value is None or value > MAX_INT:
        raise InvalidSeq(loc)
    return value


def ensure_schema(sql: Any, tables: set[str]) -> None:
    if TABLE not in tables:
        # band: the progress band of a progress event, NULL for every other row (thinning's run boundary).
        execute(sql, f"CREATE TABLE {TABLE} (job_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, "
                     "band INTEGER, body TEXT, at_ms INTEGER NOT NULL, PRIMARY KEY (job_id, seq))")


def _band(message: dict) -> int | None:
    """The thinning band of an event; None for one always kept."""
    if message.get("type") == PROGRESS:
        return int(message.get("progress") or 0) // PROGRESS_BAND
    return QUEUED_BAND if message.get("type") == QUEUED_MOVE else None


class EventLog:
    """Every job's recent events in one object's SQL storage."""

    def __init__(self, sql: Any) -> None:
        self._sql = sql

    def append(self, job_id: str, messages: list[dict], at_ms: int) -> None:
        """Log a change's messages (already stamped), thinning progress and holding the job to MAX_EVENTS."""
        if not messages:
            return
        for message in messages:
            band = _band(message)
            if band is not None:
                execute(self._sql, _THIN, job_id, band, job_id)
            execute(self._sql, _INSERT, job_id, message["seq"], message["type"], band,
                    json.dumps(message, separators=(",", ":")), at_ms)
        self._cap(job_id, messages[-1]["seq"], at_ms)

    def _cap(self, job_id: str, last_seq: int, at_ms: int) -> None:
        # Rows have distinct numbers: a job whose oldest row is fewer than MAX_EVENTS behind cannot be over
        # (one indexed row read instead of counting).
        oldest = one_or_none(self._sql, f"SELECT MIN(seq) AS seq FROM {TABLE} WHERE job_id = ?", job_id)  # noqa: S608
        if oldest is None or oldest["seq"] is None or last_seq - oldest["seq"] < MAX_EVENTS:
            return
        cut = one_or_none(self._sql, f"SELECT seq FROM {TABLE} WHERE job_id = ? "  # noqa: S608
                                     "ORDER BY seq DESC LIMIT 1 OFFSET ?", job_id, MAX_EVENTS - 1)
        if cut is None:
            return
        execute(self._sql, f"DELETE FROM {TABLE} WHERE job_id = ? AND seq <= ?", job_id, cut["seq"])  # noqa: S608
        execute(self._sql, _INSERT, job_id, cut["seq"], GAP, None, None, at_ms)

    def after(self, job_id: str, since: int) -> list[dict] | None:
        """The logged events numbered after `since`, oldest first; None when some of them were dropped."""
        found = rows(self._sql, f"SELECT type, body FROM {TABLE} WHERE job_id = ? AND seq > ? ORDER BY seq",  # noqa: S608
                     job_id, since)
        if any(row["type"] == GAP for row in found):
            return None
        return [json.loads(row["body"]) for row in found]

    def catch_up(self, job: JobRecord, since: int) -> list[dict]:
        """What a subscriber that has seen the job's events up to `since` is sent before live ones: the
        events it missed, in order; or, when the log cannot say (dropped at the cap, a `since` beyond the
        job's last event, events older than the log), the job's status snapshot, which carries its `seq`."""
        if since == job.seq:
            return []
        missed = self.after(job.job_id, since) if since < job.seq else None
        if not missed or missed[-1].get("seq") != job.seq:
            return [job.status_message()]
        return missed

    def forget(self, job_id: str) -> None:
        execute(self._sql, f"DELETE FROM {TABLE} WHERE job_id = ?", job_id)  # noqa: S608
