"""In-process checks of RPC value conversion and Durable Object storage, against RUNTIME_FACTS.md."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.do_storage import DurableObjectStorage
from local.ffi import JsException
from local.rpc import JsDict, convert
from local.runtime import LocalRuntime

FIXTURE = Path(__file__).resolve().parent / "fixture_worker"


@pytest.fixture
async def probe(tmp_path):
    runtime = LocalRuntime(FIXTURE, state_dir=tmp_path, environ={})
    await runtime.start()
    yield runtime.env.PROBE.getByName("x")
    await runtime.stop()


async def test_values_arrive_converted_like_workerd(probe):
    names = await probe.describe("s", 1, 1.5, True, None, [1], {"a": 1}, b"xy")
    assert names == ["str", "int", "float", "bool", "NoneType", "list", "JsDict", "memoryview"]
    assert await probe.attr_of({"name": "v"}, "name") == "v"  # dicts allow attribute access
    assert isinstance(await probe.give_bytes(), memoryview)  # return values are converted too


@pytest.mark.parametrize("bad", [(1, 2), bytearray(b"x")])
async def test_tuples_and_bytearrays_are_refused(probe, bad):
    with pytest.raises(TypeError):
        await probe.describe(bad)


async def test_custom_objects_are_not_cloneable(probe):
    class Thing:
        pass

    with pytest.raises(JsException, match="DataCloneError"):
        await probe.describe(Thing())


async def test_exceptions_carry_the_traceback(probe):
    with pytest.raises(JsException) as exc:
        await probe.boom()
    assert "ValueError: exploded inside the object" in str(exc.value)
    assert "Traceback" in str(exc.value)


def test_datetimes_keep_millisecond_precision():
    assert convert(datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)).microsecond == 123000
    assert isinstance(convert({"a": {"b": 1}})["a"], JsDict)


@pytest.fixture
def storage(tmp_path):
    s = DurableObjectStorage(tmp_path / "obj.sqlite", lambda ms: None)
    yield s
    s.close()


def test_sql_cursor_shapes(storage):
    sql = storage.sql
    sql.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)")
    cur = sql.exec("INSERT INTO t (name, score, data) VALUES (?, ?, ?), (?, ?, ?)", "a", 2.0, b"\x00", "b", 2.5, None)
    assert cur.toArray() == [] and cur.rowsWritten == 2
    rows = sql.exec("SELECT * FROM t ORDER BY id").toArray()
    assert rows[0]["score"] == 2 and isinstance(rows[0]["score"], int)  # integral REAL comes back as int
    assert isinstance(rows[0]["data"], memoryview) and bytes(rows[0]["data"]) == b"\x00"
    assert sql.exec("SELECT name FROM t WHERE id = 2").one() == {"name": "b"}
    with pytest.raises(JsException):
        sql.exec("SELECT * FROM t").one()
    with pytest.raises(JsException):
        sql.exec("SELECT * FROM t WHERE id = 99").one()
    cur = sql.exec("SELECT id, name FROM t ORDER BY id")
    assert cur.columnNames == ["id", "name"] and list(cur.raw()) == [[1, "a"], [2, "b"]]
    assert [r["id"] for r in sql.exec("SELECT id FROM t ORDER BY id")] == [1, 2]
    sql.exec("CREATE TABLE u (x); INSERT INTO u VALUES (1); INSERT INTO u VALUES (2);")
    assert sql.exec("SELECT count(*) AS n FROM u").one()["n"] == 2


@pytest.mark.parametrize(("query", "args"), [
    ("BEGIN TRANSACTION", ()), ("SAVEPOINT s", ()), ("SELECT * FROM _cf_KV", ()),
    ("SELECT ?", (True,)), ("SELECT " + ",".join("?" * 101), tuple(range(101))), ("SELECT ?", (2**60,)),
])
def test_sql_refusals(storage, query, args):
    with pytest.raises(JsException):
        storage.sql.exec(query, *args)


def test_transaction_sync_rolls_back(storage):
    storage.sql.exec("CREATE TABLE t (x)")

    def fail():
        storage.sql.exec("INSERT INTO t VALUES (1)")
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        storage.transactionSync(fail)
    assert storage.sql.exec("SELECT count(*) AS n FROM t").one()["n"] == 0
    storage.transactionSync(lambda: storage.sql.exec("INSERT INTO t VALUES (2)"))
    assert storage.sql.exec("SELECT count(*) AS n FROM t").one()["n"] == 1


async def test_kv_and_alarm_persist(tmp_path):
    path = tmp_path / "o.sqlite"
    s = DurableObjectStorage(path, lambda ms: None)
    await s.put("a", {"x": 1})
    await s.put({"b": b"bytes", "c": [1, 2]})
    assert await s.get(["a", "b", "missing"]) == {"a": {"x": 1}, "b": b"bytes"}
    assert await s.delete("c") is True and await s.delete("c") is False
    assert list(await s.list({"prefix": "a"})) == ["a"]
    await s.setAlarm(1234567890123)
    s.close()
    s = DurableObjectStorage(path, lambda ms: None)
    assert await s.get("a") == {"x": 1}
    assert await s.getAlarm() == 1234567890123
    await s.deleteAlarm()
    assert await s.getAlarm() is None
    await s.deleteAll()
    assert await s.get("a") is None
    s.close()
