"""The stand-in runtime itself, over real HTTP and WebSockets: the behaviours code relies on."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.worker_process import WorkerProcess

FIXTURE = Path(__file__).resolve().parent / "fixture_worker"


def rpc(worker, obj, method, *args):
    r = httpx.post(f"{worker.base_url}/rpc/{obj}/{method}", content=json.dumps(list(args)), timeout=30)
    return r.json()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def make(tmp_path):
    procs = []

    def start(**env):
        proc = WorkerProcess(FIXTURE, tmp_path / "state", {"LOCAL_ALARM_RETRY_BASE_S": "0.1", **env}).start()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


def test_vars_and_env_override(make):
    w = make(GREETING="overridden")
    assert httpx.get(f"{w.base_url}/health").json() == {"ok": True, "greeting": "overridden"}


def test_state_survives_restart_and_crash(make):
    w = make()
    assert rpc(w, "a", "slow_increment")["result"] == 1
    rpc(w, "a", "put_value", "k", {"nested": [1, 2]})
    w.restart()
    assert rpc(w, "a", "counter")["result"] == 1
    assert rpc(w, "a", "get_value", "k")["result"] == {"nested": [1, 2]}
    w.kill()
    w.start()
    assert rpc(w, "a", "slow_increment")["result"] == 2


def test_one_event_at_a_time(make):
    w = make()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: rpc(w, "b", "slow_increment")["result"], range(20)))
    assert sorted(results) == list(range(1, 21))
    assert rpc(w, "b", "counter")["result"] == 20


def test_eviction_keeps_websockets_and_attachments(make):
    w = make(LOCAL_DO_IDLE_S="0.3")
    with connect(f"{w.ws_url}/ws/c", open_timeout=10) as ws:
        built = rpc(w, "c", "constructions")["result"]
        time.sleep(1.0)  # evicted
        assert rpc(w, "c", "broadcast", "after eviction")["result"] == 1
        assert ws.recv(timeout=5) == "after eviction"
        assert rpc(w, "c", "constructions")["result"] == built + 1  # rebuilt with a fresh __init__
        ws.send("hello")
        assert json.loads(ws.recv(timeout=5)) == {"echo": "hello", "attachment": {"joined": 1}}


def test_auto_response_does_not_wake_the_object(make):
    w = make(LOCAL_DO_IDLE_S="0.3")
    with connect(f"{w.ws_url}/ws/d", open_timeout=10) as ws:
        time.sleep(1.0)
        before = rpc(w, "d", "constructions")["result"]  # this call itself rebuilds the object
        time.sleep(1.0)  # evicted again
        ws.send('{"type":"ping"}')
        assert ws.recv(timeout=5) == '{"type":"pong"}'
        time.sleep(0.2)
        assert rpc(w, "d", "constructions")["result"] == before + 1  # only this RPC woke it, not the ping
        ws.send('{"type": "ping"}')  # not byte-identical: reaches the handler
        assert json.loads(ws.recv(timeout=5))["echo"] == '{"type": "ping"}'


def test_client_close_reaches_the_handler(make):
    w = make()
    with connect(f"{w.ws_url}/ws/e", open_timeout=10) as ws:
        ws.close(4001, "bye")
        assert ws.close_code == 4001
    assert wait_for(lambda: rpc(w, "e", "closed_code")["result"] == 4001)


def test_alarm_fires_after_restart(make):
    w = make()
    rpc(w, "f", "set_alarm_in", 1500)
    assert rpc(w, "f", "pending_alarm")["result"] is not None
    w.restart()
    runs = wait_for(lambda: rpc(w, "f", "alarm_runs")["result"], timeout=10)
    assert runs == [{"retry": 0, "is_retry": 0}]
    assert wait_for(lambda: rpc(w, "f", "pending_alarm")["result"] is None)


def test_failing_alarm_is_retried(make):
    w = make()
    rpc(w, "g", "set_alarm_in", 50, 2)
    runs = wait_for(lambda: len(r := rpc(w, "g", "alarm_runs")["result"]) == 3 and r, timeout=10)
    assert [r["retry"] for r in runs] == [0, 1, 2] and [r["is_retry"] for r in runs] == [0, 1, 1]


def test_rpc_errors_reach_the_caller(make):
    w = make()
    r = rpc(w, "h", "boom")
    assert "ValueError: exploded inside the object" in r["error"]
    assert "not implement" in rpc(w, "h", "no_such_method")["error"]
    assert "_get" in rpc(w, "h", "_get", "x")["error"]  # private methods are not exposed over RPC


def test_r2_conditional_put_one_winner(make):
    w = make()
    put = f"{w.base_url}/r2/put-if"
    assert httpx.post(put, json={"key": "k", "value": "v0", "etag": "0" * 32}).json() == {"won": False}
    etag = httpx.post(put, json={"key": "k", "value": "v0"}).json()["etag"]
    # Two writers holding the same etag race: exactly one wins.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda v: httpx.post(put, json={"key": "k", "value": v, "etag": etag}).json()["won"],
                                ["a", "b"]))
    assert sorted(results) == [False, True]


def test_block_concurrency_while_holds_the_first_event(make):
    w = make(LOCAL_DO_IDLE_S="0.3")
    assert rpc(w, "bc", "warm_count")["result"] == 1  # waited for the warm-up started in __init__
    time.sleep(1.0)  # evicted: the next event rebuilds and warms up again first
    assert rpc(w, "bc", "warm_count")["result"] == 2


def test_outbound_fetch_opens_the_input_gate(make):
    # While an object awaits outbound I/O, other events for it run (workerd's input gates do the same).
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            time.sleep(1.5)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"slow answer")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    w = make()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            slow = pool.submit(rpc, w, "gate", "slow_fetch", f"http://127.0.0.1:{server.server_port}/")
            time.sleep(0.3)
            t0 = time.monotonic()
            assert rpc(w, "gate", "counter")["result"] == 0
            assert time.monotonic() - t0 < 1.0  # not queued behind the fetch
            assert slow.result(timeout=10)["result"] == "slow answer"
    finally:
        server.shutdown()
