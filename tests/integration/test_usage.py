"""GPU usage on workerd: RunPod's times kept from its reports, priced, shown in status and list, totalled
per user (equal to the sum over the user's jobs), and users ranked with a server key."""

from __future__ import annotations

from contextlib import ExitStack

import httpx
import pytest

from tests.conftest import put_object, server_headers, token_headers, worker_env
from tests.integration.export_support import OVERLAY_PARAMS, callback
from tests.waiting import wait_for

PRICE = 0.0005  # USD per GPU-second


@pytest.fixture(scope="module")
def worker(tmp_path_factory, fake_runpod):
    from tests.worker_process import worker as make_worker_process

    with ExitStack() as stack:
        env = worker_env(fake_runpod.url, GPU_PRICE_PER_S=str(PRICE))
        yield stack.enter_context(make_worker_process(tmp_path_factory.mktemp("usage"), env))


@pytest.fixture(scope="module")
def client(worker):
    with httpx.Client(base_url=worker.base_url, timeout=30) as c:
        for user in ("alice", "bob"):
            put_object(c, user, "working_videos/in.mp4", b"video")
        yield c


def run_job(client, fake_runpod, user: str, report: dict, export_type: str = "overlay") -> str:
    """A job RunPod ran: started, then RunPod's own webhook body `report` (with its times)."""
    fake_runpod.mode = "ok"
    body = {"project_id": 7, "input_key": "working_videos/in.mp4", "params": OVERLAY_PARAMS}
    r = client.post(f"/api/export/{export_type}/start", json=body, headers=token_headers(user))
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    run, runpod_id = fake_runpod.run_for(job_id)
    assert callback(run["input"]["callback_url"], {"id": runpod_id, **report}).status_code == 200
    return job_id


def test_usage_is_kept_priced_totalled_and_ranked(client, fake_runpod):
    done = {"status": "COMPLETED", "output": {"output_key": "final_videos/o.mp4"}}
    a1 = run_job(client, fake_runpod, "alice", {**done, "delayTime": 1500, "executionTime": 4000})
    run_job(client, fake_runpod, "alice", {**done, "delayTime": 500, "executionTime": 2000})
    failed = {"status": "COMPLETED", "output": {"status": "error", "error": "bad input"}}  # final: no retry
    run_job(client, fake_runpod, "alice", {**failed, "executionTime": 1000})
    run_job(client, fake_runpod, "bob", {**done, "executionTime": 10_000})

    status = client.get(f"/api/export/status/{a1}", headers=token_headers("alice")).json()
    assert status["status"] == "complete"
    assert status["usage"] == {"queue_ms": 1500, "execution_ms": 4000, "cost_usd": pytest.approx(4 * PRICE)}

    jobs = client.get("/api/export/jobs", headers=token_headers("alice")).json()["jobs"]
    mine = client.get("/api/usage", headers=token_headers("alice"))
    assert mine.status_code == 200, mine.text
    report = mine.json()
    # The totals are the sum over the user's own job list.
    assert report["totals"]["jobs"] == len(jobs) == 3
    assert report["totals"]["gpu_seconds"] == pytest.approx(sum(j["usage"]["execution_ms"] for j in jobs) / 1000)
    assert report["totals"]["cost_usd"] == pytest.approx(sum(j["usage"]["cost_usd"] for j in jobs)) == \
        pytest.approx(7 * PRICE)
    assert report["by_status"]["complete"]["jobs"] == 2 and report["by_status"]["error"]["gpu_seconds"] == 1.0
    assert set(report["by_type"]) == {"overlay"} and report["from"] < report["to"]

    # Users ranked by cost, once their objects sent their batches to the ledger (about a second).
    ranked = wait_for(lambda: (u := client.get("/api/usage/users", headers=server_headers()).json()["users"])
                      and len(u) == 2 and u[0]["cost_usd"] > 0 and u[1]["cost_usd"] > 0 and u, timeout=20,
                      what="both users in the ranking")
    assert [(r["user_id"], r["jobs"]) for r in ranked] == [("bob", 1), ("alice", 3)]
    assert ranked[1]["cost_usd"] == pytest.approx(report["totals"]["cost_usd"])


def test_usage_queries_are_bounded_and_the_ranking_is_the_servers(client):
    far = client.get("/api/usage", params={"from": "2020-01-01", "to": "2020-02-01"}, headers=token_headers("alice"))
    assert far.status_code == 200 and far.json()["totals"] == {"jobs": 0, "gpu_seconds": 0.0, "cost_usd": 0.0}
    for params in ({"to": "0001-01-10"}, {"from": "0001-01-01T00:00+01:00"}, {"to": "9999-12-31T23:00-05:00"},
                   {"from": "yesterday"}, {"from": "2026-02-01", "to": "2026-01-01"}, {"to": "2026-13-01"}):
        r = client.get("/api/usage", params=params, headers=token_headers("alice"))
        assert r.status_code == 400 and r.json()["code"] == "invalid_range", params
    assert client.get("/api/usage/users", headers=token_headers("alice")).status_code == 403
    assert client.get("/api/usage/users").status_code == 401
    assert client.get("/api/usage").status_code == 401
