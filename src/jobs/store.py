"""The job record in its Durable Object's SQLite storage (one row, never only in memory).

The object is the only reader and writer of its storage, so the row last written is the row: the
store keeps it in memory from the first read on and writes every save through. A request, a
callback and an alarm each read the record several times (every follow-up reads it again after each
`await`); from memory those reads cost a copy instead of a SQL query and a row conversion.
Each `load` returns a fresh copy, so a caller that changes a record and does not save it changes
nothing.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from bindings.do_sql import execute, one_or_none, rows
from jobs.model import JobRecord

_COLUMNS = [f.name for f in fields(JobRecord)]
_TYPES = {f.name: ("INTEGER" if f.type in ("int", "int | None") else "TEXT") for f in fields(JobRecord)}
_UNREAD = object()  # the record has not been read from storage yet in this object's life


class JobStore:
    def __init__(self, sql: Any) -> None:
        self._sql = sql
        self._record: Any = _UNREAD
        # One query on a table in order (the usual case: every construction after the job's first);
        # DDL only for a new object or a record written by an older version.
        existing = {r["name"] for r in rows(sql, "SELECT name FROM pragma_table_info('job')")}
        if not existing:
            columns = ", ".join(f"{name} {_TYPES[name]}" for name in _COLUMNS)
            execute(sql, f"CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY CHECK (id = 1), {columns})")
            return
        for name in _COLUMNS:  # records written by an older version gain new columns
            if name not in existing:
                execute(sql, f"ALTER TABLE job ADD COLUMN {name} {_TYPES[name]}")

    def load(self) -> JobRecord | None:
        if self._record is _UNREAD:
            row = one_or_none(self._sql, "SELECT * FROM job WHERE id = 1")
            self._record = None if row is None else JobRecord(
                **{k: row[k] for k in _COLUMNS if row.get(k) is not None})
        return None if self._record is None else replace(self._record)

    def save(self, job: JobRecord) -> None:
        job.version += 1
        row = job.as_row()
        names = ", ".join(_COLUMNS)
        marks = ", ".join("?" for _ in _COLUMNS)
        execute(self._sql, f"INSERT OR REPLACE INTO job (id, {names}) VALUES (1, {marks})",  # noqa: S608
                *[row[k] for k in _COLUMNS])
        self._record = replace(job)
