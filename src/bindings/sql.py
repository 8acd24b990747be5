"""The aiosqlite-shaped SQL shim over stdlib sqlite3 (the user database, in memory).

    async with connect(conn) as db:
        cur = await db.execute("SELECT * FROM games WHERE id = ?", (1,))
        row = await cur.fetchone()          # a dict, or None
        await db.commit()

No threads: aiosqlite's worker thread does not exist in Pyodide, and an in-memory database never
blocks on I/O. The Durable Objects use their own SQL directly (`bindings.do_sql`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any


class Cursor:
    def __init__(self, rows: list[dict]) -> None:
        self._rows, self._pos = rows, 0

    async def fetchone(self) -> dict | None:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    async def fetchall(self) -> list[dict]:
        rest, self._pos = self._rows[self._pos:], len(self._rows)
        return rest


class Connection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cur = self._conn.execute(sql, params)
        if not cur.description:
            return Cursor([])
        names = [d[0] for d in cur.description]
        return Cursor([dict(zip(names, row, strict=True)) for row in cur.fetchall()])

    async def commit(self) -> None:
        self._conn.commit()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None:
            self._conn.rollback()


def connect(conn: sqlite3.Connection) -> Connection:
    return Connection(conn)
