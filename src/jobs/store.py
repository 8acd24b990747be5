"""The job record in its Durable Object's SQLite storage (one row, never only in memory)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from bindings.do_sql import execute, one_or_none, rows
from jobs.model import JobRecord

_COLUMNS = [f.name for f in fields(JobRecord)]
_TYPES = {f.name: ("INTEGER" if f.type in ("int", "int | None") else "TEXT") for f in fields(JobRecord)}


class JobStore:
    def __init__(self, sql: Any) -> None:
        self._sql = sql
        columns = ", ".join(f"{name} {_TYPES[name]}" for name in _COLUMNS)
        execute(sql, f"CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY CHECK (id = 1), {columns})")
        existing = {r["name"] for r in rows(sql, "SELECT name FROM pragma_table_info('job')")}
        for name in _COLUMNS:  # records written by an older version gain new columns
            if name not in existing:
                execute(sql, f"ALTER TABLE job ADD COLUMN {name} {_TYPES[name]}")

    def load(self) -> JobRecord | None:
        row = one_or_none(self._sql, "SELECT * FROM job WHERE id = 1")
        if row is None:
            return None
        values = {k: row[k] for k in _COLUMNS if row.get(k) is not None}
        return JobRecord(**values)

    def save(self, job: JobRecord) -> None:
        job.version += 1
        row = job.as_row()
        names = ", ".join(_COLUMNS)
        marks = ", ".join("?" for _ in _COLUMNS)
        execute(self._sql, f"INSERT OR REPLACE INTO job (id, {names}) VALUES (1, {marks})",  # noqa: S608
                *[row[k] for k in _COLUMNS])

