"""A fake of a Durable Object's `ctx.storage.sql` over stdlib sqlite3, shaped like the real API.

    sql = SqlStorage()                       # an empty, in-memory database
    cur = sql.exec("SELECT * FROM t WHERE id = ?", 1)
    cur.toArray()                            # [{"id": 1, ...}]

What it models (see ../shared/RUNTIME_FACTS.md, "SQL storage"):
- `exec(query, *bindings)` is synchronous and returns a cursor; each statement commits on its own.
- The cursor is consumed once, lazily: iterating yields row dicts, `toArray()` the remaining rows,
  `raw()` the remaining rows as lists, `one()` the only row (an error unless there is exactly one);
  `columnNames` names the columns. `rowsWritten` counts the rows the statement changed and
  `rowsRead` the rows it returned, so far: both are final once the cursor is consumed.
- Bindings: int, float, str, None and bytes-like (bound as a BLOB). A bool is refused, as the real
  API refuses it: pass 0 or 1. Anything else is refused too.
- Results: BLOBs come back as `memoryview` (a JS buffer; normalise with `bytes()`), an integral REAL
  as an int (a JS number), everything else as sqlite3 gives it.
- `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT` and `RELEASE` are refused (the real storage wants
  `transactionSync`/`transaction` instead).
- Errors are `SqlError` (in Pyodide they arrive as a `JsException`), never `sqlite3.Error`.

What it does not model: rows as JS proxies (rows here are plain dicts, which the binding code reads
through the same `dict(row)` path), the JS iterator protocol (`cursor.next()`), several statements
in one `exec`, `transactionSync`, the KV and alarm APIs, `databaseSize`, the reserved `_cf_` tables,
the limits (100 bindings, 100 kB statements, 2 MB rows), integers beyond 2^53, and `rowsRead` as
Cloudflare bills it (it also counts rows scanned). `rowsWritten` is the connection's change count
since `exec`, so consume a cursor before the next `exec`, as the project's code does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any


class SqlError(Exception):
    """An error the real API would throw (a JsException in Pyodide)."""


def _bind(value: Any) -> Any:
    if isinstance(value, bool):
        raise SqlError("TypeError: a boolean cannot be bound to a SQL parameter; pass 0 or 1")
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise SqlError(f"TypeError: cannot bind a value of type {type(value).__name__} to a SQL parameter")


def _value(value: Any) -> Any:
    if isinstance(value, bytes):
        return memoryview(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _no_transactions(action: int, *_: Any) -> int:
    if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


class SqlCursor:
    """What `exec` returns. One pass over the rows, whichever method takes them."""

    def __init__(self, conn: sqlite3.Connection, cursor: sqlite3.Cursor, changes_before: int) -> None:
        self._conn, self._cursor, self._changes_before = conn, cursor, changes_before
        self.columnNames: list[str] = [d[0] for d in cursor.description or ()]
        self._read = 0

    @property
    def rowsRead(self) -> int:  # noqa: N802 - the JS name
        return self._read

    @property
    def rowsWritten(self) -> int:  # noqa: N802 - the JS name
        return self._conn.total_changes - self._changes_before

    def _next_values(self) -> list[Any] | None:
        if not self.columnNames:
            return None
        try:
            row = self._cursor.fetchone()
        except sqlite3.Error as exc:
            raise SqlError(f"Error: {exc}") from None
        if row is None:
            return None
        self._read += 1
        return [_value(v) for v in row]

    def raw(self) -> Iterator[list[Any]]:
        while (values := self._next_values()) is not None:
            yield values

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for values in self.raw():
            yield dict(zip(self.columnNames, values, strict=True))

    def toArray(self) -> list[dict[str, Any]]:  # noqa: N802 - the JS name
        return list(self)

    def one(self) -> dict[str, Any]:
        rows = self.toArray()
        if len(rows) != 1:
            got = "no results" if not rows else "multiple results"
            raise SqlError(f"Error: Expected exactly one result from SQL query, but got {got}.")
        return rows[0]


class SqlStorage:
    """`ctx.storage.sql` of one object, over an in-memory database (or the given path)."""

    def __init__(self, path: str = ":memory:") -> None:
        # Autocommit: sqlite3 never opens a transaction of its own, and the authorizer refuses
        # the statements that would.
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.set_authorizer(_no_transactions)

    def exec(self, query: str, *bindings: Any) -> SqlCursor:
        params = [_bind(v) for v in bindings]
        before = self._conn.total_changes
        try:
            cursor = self._conn.execute(query, params)
        except sqlite3.Error as exc:  # also: several statements, the wrong number of bindings
            if "not authorized" in str(exc):
                raise SqlError("Error: use ctx.storage.transactionSync() or transaction() instead of "
                               "BEGIN TRANSACTION or SAVEPOINT in SQL") from None
            raise SqlError(f"Error: {exc}") from None
        return SqlCursor(self._conn, cursor, before)

    def close(self) -> None:
        self._conn.close()
