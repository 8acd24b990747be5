"""Synchronous queries on a Durable Object's `ctx.storage.sql`, rows as plain dicts.

DO SQL is synchronous on purpose: a read-modify-write with no `await` in between cannot be
interleaved with another event, which is what the objects here rely on.
"""

from __future__ import annotations

from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if hasattr(value, "to_py"):
        return value.to_py()
    return value


def rows(sql: Any, query: str, *params: Any) -> list[dict]:
    cursor = sql.exec(query, *[int(p) if isinstance(p, bool) else p for p in params])
    out = []
    for row in cursor.toArray():
        if hasattr(row, "to_py"):
            row = row.to_py()
        out.append({k: _plain(v) for k, v in dict(row).items()})
    return out


def one_or_none(sql: Any, query: str, *params: Any) -> dict | None:
    found = rows(sql, query, *params)
    return found[0] if found else None


def execute(sql: Any, query: str, *params: Any) -> int:
    """Run a statement; the cursor's `rowsWritten`, which counts index entries too (Cloudflare bills
    those): to count changed rows, use `RETURNING` with `rows()` instead."""
    cursor = sql.exec(query, *[int(p) if isinstance(p, bool) else p for p in params])
    cursor.toArray()  # consume, so rowsWritten is final
    return int(cursor.rowsWritten)


def column_names(sql: Any, table: str) -> list[str]:
    """The columns of `table` (a trusted name), from a query that reads no row."""
    cursor = sql.exec(f"SELECT * FROM {table} LIMIT 0")  # noqa: S608 - the callers' own table names
    names = [str(name) for name in cursor.columnNames]
    cursor.toArray()
    return names
