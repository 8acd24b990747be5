"""The aiosqlite-shaped SQL shim: one async API over stdlib sqlite3 and over Durable Object SQL.

    async with connect(target) as db:
        cur = await db.execute("SELECT * FROM games WHERE id = ?", (1,))
        row = await cur.fetchone()          # a dict, or None
        await db.commit()

`target` is a `sqlite3.Connection` (the user database, in memory) or a Durable Object's
`ctx.storage.sql`. No threads: aiosqlite's worker thread does not exist in Pyodide, and neither
backend blocks on I/O. Bools are bound as ints (DO SQL refuses them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


def _params(params: Sequence[Any] | None) -> list[Any]:
    return [int(p) if isinstance(p, bool) else p for p in (params or ())]


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


class Cursor:
    def __init__(self, rows: list[dict], rowcount: int, lastrowid: int | None) -> None:
        self._rows, self._pos = rows, 0
        self.rowcount, self.lastrowid = rowcount, lastrowid

    async def fetchone(self) -> dict | None:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    async def fetchall(self) -> list[dict]:
        rest, self._pos = self._rows[self._pos:], len(self._rows)
        return rest


class _SqliteBackend:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: list[Any]) -> Cursor:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description] if cur.description else []
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()] if names else []
        return Cursor(rows, cur.rowcount, cur.lastrowid)

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()


class _DurableObjectBackend:
    """DO SQL autocommits each statement; commit/rollback are therefore no-ops here."""

    def __init__(self, sql: Any) -> None:
        self.sql = sql

    def execute(self, sql: str, params: list[Any]) -> Cursor:
        cursor = self.sql.exec(sql, *params)
        rows = []
        for row in cursor.toArray():
            row = row.to_py() if hasattr(row, "to_py") else row
            rows.append({k: _plain(v) for k, v in dict(row).items()})
        written = int(cursor.rowsWritten)
        lastrowid = None
        if written and sql.lstrip()[:6].upper() == "INSERT":
            lastrowid = self.sql.exec("SELECT last_insert_rowid() AS id").one()["id"]
        return Cursor(rows, written, lastrowid)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


class Connection:
    def __init__(self, target: Any) -> None:
        self._backend = _SqliteBackend(target) if isinstance(target, sqlite3.Connection) else _DurableObjectBackend(target)

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        return self._backend.execute(sql, _params(params))

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        for params in seq:
            self._backend.execute(sql, _params(params))

    async def commit(self) -> None:
        self._backend.commit()

    async def rollback(self) -> None:
        self._backend.rollback()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None:
            self._backend.rollback()


def connect(target: Any) -> Connection:
    return Connection(target)
