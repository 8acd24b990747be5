"""The aiosqlite-shaped shim over sqlite3: dict rows, a cursor read in steps, commit and rollback."""

from __future__ import annotations

import sqlite3

import pytest

from bindings.sql import connect


@pytest.fixture
def conn():
    conn = sqlite3.connect(":memory:")
    yield conn
    conn.close()


async def test_rows_are_dicts_and_the_cursor_reads_in_steps(conn):
    async with connect(conn) as db:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, flag INTEGER, data BLOB)")
        await db.execute("INSERT INTO t (name, flag, data) VALUES (?, ?, ?)", ("a", True, b"\x01\x02"))
        for name, flag in (("b", False), ("c", 1)):
            await db.execute("INSERT INTO t (name, flag) VALUES (?, ?)", (name, flag))
        await db.commit()
        rows = await (await db.execute("SELECT id, name, flag, data FROM t ORDER BY id")).fetchall()
        assert rows == [{"id": 1, "name": "a", "flag": 1, "data": b"\x01\x02"},
                        {"id": 2, "name": "b", "flag": 0, "data": None},
                        {"id": 3, "name": "c", "flag": 1, "data": None}]
        cur = await db.execute("SELECT name FROM t WHERE id > ? ORDER BY id", (1,))
        assert await cur.fetchone() == {"name": "b"}
        assert await cur.fetchall() == [{"name": "c"}]
        assert await cur.fetchone() is None
        assert await (await db.execute("UPDATE t SET flag = 0")).fetchall() == []


async def test_an_error_inside_rolls_back(conn):
    conn.execute("CREATE TABLE t (name TEXT)")
    conn.commit()
    with pytest.raises(RuntimeError):
        async with connect(conn) as db:
            await db.execute("INSERT INTO t (name) VALUES (?)", ("lost",))
            raise RuntimeError("boom")
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
