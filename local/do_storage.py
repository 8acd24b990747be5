"""`ctx.storage` of a Durable Object: SQL API, KV API and the alarm, in one SQLite file.

Like workerd, the KV pairs and the alarm live in reserved `_cf_` tables of the object's own
database, which user SQL may not touch. SQL is synchronous; KV and alarm calls are async.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from local.ffi import JsException

_FORBIDDEN_SQL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|END)\b", re.IGNORECASE)
_RESERVED = re.compile(r"_cf_", re.IGNORECASE)
MAX_PARAMS = 100
MAX_STATEMENT = 100_000
MAX_SAFE_INT = 2**53


def _split_statements(query: str) -> list[str]:
    """Split on statement boundaries the way SQLite would (quotes and comments respected)."""
    statements, start = [], 0
    for i, ch in enumerate(query):
        if ch == ";" and sqlite3.complete_statement(query[start : i + 1]):
            statements.append(query[start : i + 1])
            start = i + 1
    rest = query[start:]
    if rest.strip() and not rest.strip().startswith("--"):
        statements.append(rest)
    return [s for s in statements if s.strip().strip(";").strip()]


def _bind(value: Any) -> Any:
    if isinstance(value, bool):
        raise JsException("TypeError: booleans cannot be bound to SQL parameters; pass 0 or 1")
    if isinstance(value, int) and abs(value) > MAX_SAFE_INT:
        raise JsException("TypeError: integer parameter is outside the range a JS number holds exactly")
    if isinstance(value, int | float | str | bytes) or value is None:
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    raise JsException(f"TypeError: cannot bind a value of type {type(value).__name__}")


def _result(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_SAFE_INT:
        return int(value)  # JS numbers: an integral REAL comes back as an int
    if isinstance(value, bytes):
        return memoryview(value)  # a buffer; callers normalise with bytes()
    return value


class SqlCursor:
    """The cursor `sql.exec` returns. Rows are computed eagerly; the counters are final at once."""

    def __init__(self, columns: list[str], rows: list[tuple], rows_read: int, rows_written: int) -> None:
        self.columnNames = columns
        self._rows = [tuple(_result(v) for v in row) for row in rows]
        self._pos = 0
        self.rowsRead = rows_read
        self.rowsWritten = rows_written

    def __iter__(self):
        while self._pos < len(self._rows):
            row = self._rows[self._pos]
            self._pos += 1
            yield dict(zip(self.columnNames, row, strict=True))

    def next(self) -> dict:
        for row in self:
            return {"done": False, "value": row}
        return {"done": True}

    def toArray(self) -> list[dict]:  # noqa: N802 - JS name
        return list(self)

    def one(self) -> dict:
        rows = self.toArray()
        if len(rows) != 1:
            raise JsException(f"Error: Expected exactly one result from SQL query, but got {len(rows)}.")
        return rows[0]

    def raw(self):
        while self._pos < len(self._rows):
            row = self._rows[self._pos]
            self._pos += 1
            yield list(row)


class SqlStorage:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def exec(self, query: str, *bindings: Any) -> SqlCursor:
        if len(query.encode()) > MAX_STATEMENT:
            raise JsException("Error: SQL statement too long")
        if len(bindings) > MAX_PARAMS:
            raise JsException("Error: too many SQL variables (at most 100)")
        if _RESERVED.search(query):
            raise JsException("Error: not authorized: tables prefixed _cf_ are reserved")
        statements = _split_statements(query)
        if not statements:
            return SqlCursor([], [], 0, 0)
        for stmt in statements:
            if _FORBIDDEN_SQL.match(stmt):
                raise JsException(
                    "Error: To execute a transaction, please use the state.storage.transaction() or "
                    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or "
                    "SAVEPOINT statements."
                )
        params = [_bind(v) for v in bindings]
        before = self._conn.total_changes
        try:
            for stmt in statements[:-1]:
                self._conn.execute(stmt)
            cur = self._conn.execute(statements[-1], params)
            rows = cur.fetchall()
        except sqlite3.Error as exc:
            raise JsException(f"Error: {exc}: SQLITE_ERROR") from None
        columns = [d[0] for d in cur.description] if cur.description else []
        written = self._conn.total_changes - before
        return SqlCursor(columns, rows, max(len(rows), written), written)

    @property
    def databaseSize(self) -> int:  # noqa: N802 - JS name
        page_count = self._conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        return page_count * page_size


def _encode(value: Any) -> str:
    if isinstance(value, bytes | memoryview | bytearray):
        return json.dumps({"$bytes": base64.b64encode(bytes(value)).decode()})
    return json.dumps({"$v": value})


def _decode(raw: str) -> Any:
    data = json.loads(raw)
    return base64.b64decode(data["$bytes"]) if "$bytes" in data else data["$v"]


class DurableObjectStorage:
    """`ctx.storage` for one object. The host owns the connection; instances come and go."""

    def __init__(self, path: Path, on_alarm_change) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._conn.execute("CREATE TABLE IF NOT EXISTS _cf_alarm (id INTEGER PRIMARY KEY CHECK (id = 1), "
                           "scheduled_ms INTEGER NOT NULL)")
        self.sql = SqlStorage(self._conn)
        self._on_alarm_change = on_alarm_change

    def close(self) -> None:
        self._conn.close()

    # -- KV -----------------------------------------------------------------------------------
    async def get(self, key: str | list[str]) -> Any:
        if isinstance(key, list):
            out = {}
            for k in key:
                row = self._conn.execute("SELECT value FROM _cf_KV WHERE key = ?", (k,)).fetchone()
                if row:
                    out[k] = _decode(row[0])
            return out
        row = self._conn.execute("SELECT value FROM _cf_KV WHERE key = ?", (key,)).fetchone()
        return _decode(row[0]) if row else None

    async def put(self, key: str | dict, value: Any = None) -> None:
        entries = key.items() if isinstance(key, dict) else [(key, value)]
        for k, v in entries:
            self._conn.execute("INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)", (k, _encode(v)))

    async def delete(self, key: str | list[str]) -> bool | int:
        keys = key if isinstance(key, list) else [key]
        count = 0
        for k in keys:
            count += self._conn.execute("DELETE FROM _cf_KV WHERE key = ?", (k,)).rowcount
        return count if isinstance(key, list) else count > 0

    async def list(self, options: dict | None = None, **kwargs: Any) -> dict:
        opts = {**(options or {}), **kwargs}
        query, params = "SELECT key, value FROM _cf_KV", []
        if opts.get("prefix"):
            query += " WHERE substr(key, 1, ?) = ?"
            params += [len(opts["prefix"]), opts["prefix"]]
        query += " ORDER BY key" + (" DESC" if opts.get("reverse") else "")
        if opts.get("limit"):
            query += " LIMIT ?"
            params.append(int(opts["limit"]))
        return {k: _decode(v) for k, v in self._conn.execute(query, params)}

    async def deleteAll(self) -> None:  # noqa: N802 - JS name
        tables = [r[0] for r in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            if table.startswith("_cf_"):
                self._conn.execute(f"DELETE FROM {table}")  # noqa: S608 - names from sqlite_master
            else:
                self._conn.execute(f'DROP TABLE "{table}"')
        self._on_alarm_change(None)

    # -- transactions ---------------------------------------------------------------------------
    def transactionSync(self, fn):  # noqa: N802 - JS name
        self._conn.execute("SAVEPOINT local_txn")
        try:
            result = fn()
        except BaseException:
            self._conn.execute("ROLLBACK TO local_txn")
            self._conn.execute("RELEASE local_txn")
            raise
        self._conn.execute("RELEASE local_txn")
        return result

    async def transaction(self, fn):
        self._conn.execute("SAVEPOINT local_txn_async")
        try:
            result = await fn(self)
        except BaseException:
            self._conn.execute("ROLLBACK TO local_txn_async")
            self._conn.execute("RELEASE local_txn_async")
            raise
        self._conn.execute("RELEASE local_txn_async")
        return result

    # -- alarm --------------------------------------------------------------------------------
    def alarm_ms(self) -> int | None:
        row = self._conn.execute("SELECT scheduled_ms FROM _cf_alarm WHERE id = 1").fetchone()
        return row[0] if row else None

    async def getAlarm(self) -> int | None:  # noqa: N802 - JS name
        return self.alarm_ms()

    async def setAlarm(self, when: int | float | datetime) -> None:  # noqa: N802 - JS name
        ms = int(when.timestamp() * 1000) if isinstance(when, datetime) else int(when)
        self._conn.execute("INSERT OR REPLACE INTO _cf_alarm (id, scheduled_ms) VALUES (1, ?)", (ms,))
        self._on_alarm_change(ms)

    async def deleteAlarm(self) -> None:  # noqa: N802 - JS name
        self._conn.execute("DELETE FROM _cf_alarm")
        self._on_alarm_change(None)

    def clear_alarm_if(self, ms: int) -> None:
        """After a successful alarm run: drop the alarm unless the handler set a new one."""
        self._conn.execute("DELETE FROM _cf_alarm WHERE scheduled_ms = ?", (ms,))
        self._on_alarm_change(self.alarm_ms())
