"""The job record in its Durable Object's SQLite storage (one row, never only in memory).

The object is the only reader and writer of its storage, so the row last written is the row: the
store keeps it in memory from the first read on and writes every save through. A request, a
callback and an alarm each read the record several times (every follow-up reads it again after each
`await`); from memory those reads cost a copy instead of a SQL query and a row conversion.
Each `load` returns a fresh copy, so a caller that changes a record and does not save it changes
nothing (its follow-ups are immutable values, so a shallow copy is a whole one).

A follow-up field `f` is stored as three columns, `f_pending`, `f_failures` and `f_retry_ms`.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from bindings.do_sql import execute, one_or_none, rows
from jobs.followups import FollowUp
from jobs.model import JobRecord

_FOLLOW_UPS = tuple(f.name for f in fields(JobRecord) if f.type == "FollowUp")
_PLAIN = tuple(f.name for f in fields(JobRecord) if f.name not in _FOLLOW_UPS)
_TYPES = {f.name: ("INTEGER" if f.type in ("int", "int | None") else "TEXT") for f in fields(JobRecord)
          if f.name in _PLAIN}
_TYPES.update({f"{name}_{part}": "INTEGER" for name in _FOLLOW_UPS for part in ("pending", "failures", "retry_ms")})
_COLUMNS = tuple(_TYPES)
_INSERT = (f"INSERT OR REPLACE INTO job (id, {', '.join(_COLUMNS)}) "  # noqa: S608 - the record's own field names
           f"VALUES (1, {', '.join('?' for _ in _COLUMNS)})")
_UNREAD = object()  # the record has not been read from storage yet in this object's life


def to_row(job: JobRecord) -> list:
    """The record as the values of `_COLUMNS`, in order."""
    values = [getattr(job, name) for name in _PLAIN]
    for name in _FOLLOW_UPS:
        follow_up = getattr(job, name)
        values += [int(follow_up.pending), follow_up.failures, follow_up.retry_ms]
    return values


def from_row(row: dict) -> JobRecord:
    plain = {name: row[name] for name in _PLAIN if row.get(name) is not None}
    follow_ups = {name: FollowUp(bool(row.get(f"{name}_pending") or 0), int(row.get(f"{name}_failures") or 0),
                                 int(row.get(f"{name}_retry_ms") or 0)) for name in _FOLLOW_UPS}
    return JobRecord(**plain, **follow_ups)


class JobStore:
    def __init__(self, sql: Any) -> None:
        self._sql = sql
        self._record: Any = _UNREAD
        # One query on a table in order (the usual case: every construction after the job's first);
        # DDL only for a new object or a record written by an older version.
        existing = {r["name"] for r in rows(sql, "SELECT name FROM pragma_table_info('job')")}
        if not existing:
            columns = ", ".join(f"{name} {kind}" for name, kind in _TYPES.items())
            execute(sql, f"CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY CHECK (id = 1), {columns})")
            return
        for name in _COLUMNS:  # records written by an older version gain new columns
            if name not in existing:
                execute(sql, f"ALTER TABLE job ADD COLUMN {name} {_TYPES[name]}")

    def load(self) -> JobRecord | None:
        if self._record is _UNREAD:
            row = one_or_none(self._sql, "SELECT * FROM job WHERE id = 1")
            self._record = None if row is None else from_row(row)
        return None if self._record is None else replace(self._record)

    def save(self, job: JobRecord) -> None:
        job.version += 1
        execute(self._sql, _INSERT, *to_row(job))
        self._record = replace(job)
