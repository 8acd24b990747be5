"""GPU usage (jobs/usage.py, jobs/usage_ledger.py, the callbacks' delayTime/executionTime): pure rules on CPython."""

from __future__ import annotations

import pytest

from jobs import usage, usage_ledger
from jobs.callbacks import InvalidCallback, Update, parse_callback
from jobs.model import JobRecord
from tests.fakes.do_sql import SqlStorage


def job(**extra) -> JobRecord:
    fields = {"job_id": "j1", "user_id": "u", **extra}
    return JobRecord(type="overlay", project_id=1, input_key="i", output_key="o", params_json="{}",
                     base_url="http://w", **fields)


def test_runpod_reports_carry_queue_and_execution_times():
    update = parse_callback({"id": "rp", "status": "COMPLETED", "delayTime": 1200, "executionTime": 5000.7,
                             "output": {"output_key": "o.mp4"}})
    assert (update.kind, update.queue_ms, update.execution_ms) == ("complete", 1200, 5000)
    assert parse_callback({"id": "rp", "status": "IN_PROGRESS"}).execution_ms is None
    assert parse_callback({"status": "progress", "progress": 5}).queue_ms is None  # the GPU worker's own shape
    for bad in ({"delayTime": -1}, {"executionTime": "5s"}, {"executionTime": True}):
        with pytest.raises(InvalidCallback):
            parse_callback({"id": "rp", "status": "IN_PROGRESS", **bad})


def test_usage_only_grows_and_is_priced_when_the_time_is_reported():
    j = job()
    assert usage.record(j, Update("running", queue_ms=800, execution_ms=1000), 0.00044)
    assert (j.queue_ms, j.execution_ms, j.cost_micro_usd) == (800, 1000, 440)
    assert not usage.record(j, Update("running", queue_ms=700, execution_ms=900), 0.00044)  # never back
    assert usage.record(j, Update("complete", execution_ms=2500), 0.001)  # the price of when it was reported
    assert j.cost_micro_usd == 2500 and j.status_body()["usage"] == {"queue_ms": 800, "execution_ms": 2500,
                                                                      "cost_usd": 0.0025}
    zero = job()
    assert usage.record(zero, Update("running", queue_ms=0), None) and not usage.record(zero, Update("running", queue_ms=0), None)
    unpriced = job()
    usage.record(unpriced, Update("complete", execution_ms=2500), None)
    assert unpriced.status_body()["usage"] == {"queue_ms": None, "execution_ms": 2500, "cost_usd": None}


def test_a_report_totals_its_groups_overall_by_type_and_by_status():
    groups = [{"type": "overlay", "status": "complete", "jobs": 2, "execution_ms": 3000, "cost_micro_usd": 1320},
              {"type": "overlay", "status": "error", "jobs": 1, "execution_ms": None, "cost_micro_usd": None},
              {"type": "framing", "status": "complete", "jobs": 1, "execution_ms": 1500, "cost_micro_usd": 660}]
    r = usage.report(groups)
    assert r["totals"] == {"jobs": 4, "gpu_seconds": 4.5, "cost_usd": 0.00198}
    assert r["by_type"]["overlay"] == {"jobs": 3, "gpu_seconds": 3.0, "cost_usd": 0.00132}
    assert r["by_status"]["complete"] == {"jobs": 3, "gpu_seconds": 4.5, "cost_usd": 0.00198}
    assert usage.report([])["totals"] == {"jobs": 0, "gpu_seconds": 0.0, "cost_usd": 0.0}


def test_the_ledger_ranks_users_by_cost_and_a_resent_entry_changes_nothing():
    sql = SqlStorage()
    usage_ledger.ensure_schema(sql)
    entries = [usage.ledger_entry(job(job_id=f"j{i}", user_id=u, created_ms=t, execution_ms=ms, cost_micro_usd=c))
               for i, (u, t, ms, c) in enumerate([("a", 10, 1000, 440), ("b", 20, 5000, 2200), ("a", 30, 2000, 880),
                                                   ("c", 40, None, None), ("b", 99, 9000, 3960)])]
    usage_ledger.record(sql, entries)
    usage_ledger.record(sql, entries[:2])  # a batch sent again
    ranked = usage_ledger.ranking(sql, 0, 50, 10)
    assert [(r["user_id"], r["jobs"], r["gpu_seconds"], r["cost_usd"]) for r in ranked] == [
        ("b", 1, 5.0, 0.0022), ("a", 2, 3.0, 0.00132), ("c", 1, 0.0, 0.0)]
    assert [r["user_id"] for r in usage_ledger.ranking(sql, 0, 100, 1)] == ["b"]
