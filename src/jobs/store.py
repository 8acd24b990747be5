"""A user's export job records in their `UserJobs` object's SQLite storage: one row per job.

The rows are the truth, and the only copy the service keeps: the job's status, the user's job list
(one indexed query over the same rows), what the object's alarm owes each job (`due_ms`, indexed,
so the alarm finds what is due without reading every job) and what the user's database in R2 is
and the usage ledger are owed (`db_pending`, `ledger_pending`) are all read from them.

The object is the only reader and writer of its storage, so the row last written is the row: the
table keeps the records it read or wrote in memory (a bounded number) and writes every save
through. A callback and an alarm read a record several times (every follow-up reads it again after
each `await`); from memory those reads cost a copy instead of a SQL query and a row conversion.
Each `load` returns a fresh copy, so a caller that changes a record and does not save it changes
nothing (its follow-ups are immutable values, so a shallow copy is a whole one).

A follow-up field `f` is stored as three columns, `f_pending`, `f_failures` and `f_retry_ms`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from bindings.do_sql import execute, one_or_none, rows
from jobs.followups import FollowUp
from jobs.model import JobRecord

TABLE = "export_jobs"
_FOLLOW_UPS = tuple(f.name for f in fields(JobRecord) if f.type == "FollowUp")
_PLAIN = tuple(f.name for f in fields(JobRecord) if f.name not in _FOLLOW_UPS)
_TYPES = {f.name: ("INTEGER" if f.type in ("int", "int | None") else "TEXT") for f in fields(JobRecord)
          if f.name in _PLAIN}
_TYPES.update({f"{name}_{part}": "INTEGER" for name in _FOLLOW_UPS for part in ("pending", "failures", "retry_ms")})
_TYPES["due_ms"] = "INTEGER"  # when the alarm next owes the job something; NULL when nothing
_COLUMNS = tuple(_TYPES)
_INSERT = (f"INSERT OR REPLACE INTO {TABLE} ({', '.join(_COLUMNS)}) "  # noqa: S608 - the record's own field names
           f"VALUES ({', '.join('?' for _ in _COLUMNS)})")
# Every attempt's usage: the current one's columns and the earlier ones' sums (jobs/attempts.py).
_USAGE = (f"SELECT type, status, COUNT(*) AS jobs, "  # noqa: S608 - the table's own name
          "SUM(COALESCE(execution_ms, 0) + COALESCE(prior_execution_ms, 0)) AS execution_ms, "
          "SUM(COALESCE(cost_micro_usd, 0) + COALESCE(prior_cost_micro_usd, 0)) AS cost_micro_usd "
          f"FROM {TABLE} WHERE created_ms >= ? AND created_ms < ? GROUP BY type, status")
_CACHED_MAX = 256  # records kept in memory; past that the cache starts over (a hot user's objects stay small)


def to_row(job: JobRecord, due_ms: int | None) -> list:
    """The record as the values of `_COLUMNS`, in order."""
    values = [getattr(job, name) for name in _PLAIN]
    for name in _FOLLOW_UPS:
        follow_up = getattr(job, name)
        values += [int(follow_up.pending), follow_up.failures, follow_up.retry_ms]
    return [*values, due_ms]


def from_row(row: dict) -> JobRecord:
    plain = {name: row[name] for name in _PLAIN if row.get(name) is not None}
    follow_ups = {name: FollowUp(bool(row.get(f"{name}_pending") or 0), int(row.get(f"{name}_failures") or 0),
                                 int(row.get(f"{name}_retry_ms") or 0)) for name in _FOLLOW_UPS}
    return JobRecord(**plain, **follow_ups)


def ensure_schema(sql: Any, tables: set[str]) -> None:
    """Create the table, or give one written by an older version its new columns. `tables` are the
    names the storage has (one query for every table of the object, made by its constructor)."""
    if TABLE not in tables:
        execute(sql, f"CREATE TABLE {TABLE} ({', '.join(f'{n} {t}' for n, t in _TYPES.items())}, "
                     "PRIMARY KEY (job_id))")
        execute(sql, f"CREATE INDEX {TABLE}_newest ON {TABLE} (created_ms DESC, job_id DESC)")
        execute(sql, f"CREATE INDEX {TABLE}_due ON {TABLE} (due_ms) WHERE due_ms IS NOT NULL")
        execute(sql, f"CREATE INDEX {TABLE}_db_owed ON {TABLE} (job_id) WHERE db_pending = 1")
        execute(sql, f"CREATE INDEX {TABLE}_ledger_owed ON {TABLE} (job_id) WHERE ledger_pending = 1")
        return
    existing = {r["name"] for r in rows(sql, f"SELECT name FROM pragma_table_info('{TABLE}')")}  # noqa: S608
    for name in _COLUMNS:
        if name not in existing:
            execute(sql, f"ALTER TABLE {TABLE} ADD COLUMN {name} {_TYPES[name]}")
    if "ledger_pending" not in existing:  # one mark owed both before: what the database is owed, the ledger is
        execute(sql, f"UPDATE {TABLE} SET ledger_pending = db_pending")  # noqa: S608
        execute(sql, f"CREATE INDEX {TABLE}_ledger_owed ON {TABLE} (job_id) WHERE ledger_pending = 1")


class JobTable:
    """Every job of one user. `due` says when a record next owes the alarm something (jobs.deadlines);
    `owed` is told of every record saved while it owes the user's database its state."""

    def __init__(self, sql: Any, due: Callable[[JobRecord], int | None],
                 owed: Callable[[JobRecord], None] | None = None) -> None:
        self._sql, self._due, self._owed = sql, due, owed
        self._cached: dict[str, JobRecord | None] = {}

    def load(self, job_id: str) -> JobRecord | None:
        if job_id not in self._cached:
            row = one_or_none(self._sql, f"SELECT * FROM {TABLE} WHERE job_id = ?", job_id)  # noqa: S608
            self._remember(job_id, None if row is None else from_row(row))
        found = self._cached[job_id]
        return None if found is None else replace(found)

    def save(self, job: JobRecord) -> None:
        job.version += 1
        execute(self._sql, _INSERT, *to_row(job, self._due(job)))
        self._remember(job.job_id, replace(job))
        if (job.db_pending or job.ledger_pending) and self._owed is not None:
            self._owed(job)

    def _remember(self, job_id: str, job: JobRecord | None) -> None:
        if len(self._cached) >= _CACHED_MAX:
            self._cached.clear()
        self._cached[job_id] = job

    def refresh_due(self, job_id: str) -> None:
        """Store the job's due time as the rule says now (it was computed when the row was saved)."""
        job = self.load(job_id)
        if job is not None:
            execute(self._sql, f"UPDATE {TABLE} SET due_ms = ? WHERE job_id = ?", self._due(job), job_id)  # noqa: S608

    def defer(self, job_id: str, until_ms: int) -> None:
        """The job is due no sooner than `until_ms` (its last step failed: a pause, not a loop)."""
        execute(self._sql, f"UPDATE {TABLE} SET due_ms = MAX(due_ms, ?) WHERE job_id = ? AND due_ms IS NOT NULL",  # noqa: S608
                until_ms, job_id)

    def earliest_due(self) -> int | None:
        row = one_or_none(self._sql, f"SELECT MIN(due_ms) AS due FROM {TABLE} WHERE due_ms IS NOT NULL")  # noqa: S608
        return None if row is None or row["due"] is None else int(row["due"])

    def due_ids(self, now_ms: int, limit: int) -> list[str]:
        found = rows(self._sql, f"SELECT job_id FROM {TABLE} WHERE due_ms <= ? ORDER BY due_ms LIMIT ?",  # noqa: S608
                     now_ms, limit)
        return [r["job_id"] for r in found]

    def page(self, status: str | None, job_type: str | None, after: tuple[int, str] | None,
             limit: int) -> list[JobRecord]:
        """Jobs newest first, of `status` and `job_type` when given, after the `(created_ms, job_id)` of a
        page's last job when given."""
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if job_type:
            where.append("type = ?")
            params.append(job_type)
        if after:
            where.append("(created_ms < ? OR (created_ms = ? AND job_id < ?))")
            params += [after[0], after[0], after[1]]
        query = f"SELECT * FROM {TABLE}"  # noqa: S608 - the conditions are the constants above
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY created_ms DESC, job_id DESC LIMIT ?"
        return [from_row(r) for r in rows(self._sql, query, *params, limit)]

    def usage(self, from_ms: int, to_ms: int) -> list[dict]:
        """Jobs created in [from_ms, to_ms) grouped by type and status: their count, GPU ms and cost."""
        return rows(self._sql, _USAGE, from_ms, to_ms)

    def db_owed(self, limit: int) -> list[JobRecord]:
        return self._owed_to("db_pending", limit)

    def ledger_owed(self, limit: int) -> list[JobRecord]:
        return self._owed_to("ledger_pending", limit)

    def db_written(self, job_id: str, version: int) -> None:
        """The user's database has this version of the job: it is owed nothing more, unless the job
        changed while the write was out (then that newer version still is)."""
        self._written("db_pending", job_id, version)

    def ledger_written(self, job_id: str, version: int) -> None:
        """The usage ledger has this version of the job (as `db_written`)."""
        self._written("ledger_pending", job_id, version)

    def _owed_to(self, mark: str, limit: int) -> list[JobRecord]:
        query = f"SELECT * FROM {TABLE} WHERE {mark} = 1 LIMIT ?"  # noqa: S608 - one of the two mark columns
        return [from_row(r) for r in rows(self._sql, query, limit)]

    def _written(self, mark: str, job_id: str, version: int) -> None:
        job = self.load(job_id)
        if job is not None and job.version == version and getattr(job, mark):
            execute(self._sql, f"UPDATE {TABLE} SET {mark} = 0 WHERE job_id = ? AND version = ?",  # noqa: S608
                    job_id, version)
            setattr(job, mark, 0)
            self._remember(job_id, job)

    def one(self, job_id: str) -> JobStore:
        return JobStore(self, job_id)


class JobStore:
    """One job's record: what the lifecycle reads and writes (`load`, `save`)."""

    def __init__(self, table: JobTable, job_id: str) -> None:
        self.table, self.job_id = table, job_id

    def load(self) -> JobRecord | None:
        return self.table.load(self.job_id)

    def save(self, job: JobRecord) -> None:
        self.table.save(job)
