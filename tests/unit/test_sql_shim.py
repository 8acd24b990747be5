"""The aiosqlite-shaped shim gives the same answers over sqlite3 and over Durable Object SQL."""

from __future__ import annotations

import sqlite3

import pytest

from bindings.sql import connect
from tests.fakes.do_sql import SqlStorage


@pytest.fixture(params=["sqlite3", "durable_object"])
def target(request):
    if request.param == "sqlite3":
        conn = sqlite3.connect(":memory:")
        yield conn
        conn.close()
    else:
        sql = SqlStorage()
        yield sql
        sql.close()


async def test_same_answers_on_both_backends(target):
    async with connect(target) as db:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, flag INTEGER, data BLOB)")
        cur = await db.execute("INSERT INTO t (name, flag, data) VALUES (?, ?, ?)", ("a", True, b"\x01\x02"))
        assert cur.rowcount == 1 and cur.lastrowid == 1
        await db.executemany("INSERT INTO t (name, flag) VALUES (?, ?)", [("b", False), ("c", 1)])
        await db.commit()
        rows = await (await db.execute("SELECT id, name, flag, data FROM t ORDER BY id")).fetchall()
        assert rows == [{"id": 1, "name": "a", "flag": 1, "data": b"\x01\x02"},
                        {"id": 2, "name": "b", "flag": 0, "data": None},
                        {"id": 3, "name": "c", "flag": 1, "data": None}]
        cur = await db.execute("SELECT name FROM t WHERE id > ? ORDER BY id", (1,))
        assert await cur.fetchone() == {"name": "b"}
        assert await cur.fetchall() == [{"name": "c"}]
        assert await cur.fetchone() is None
