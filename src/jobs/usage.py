"""What a job cost: RunPod's queue and execution times, and a price per GPU-second. Pure.

RunPod reports `delayTime` (ms waiting for a GPU) and `executionTime` (ms on it) in its webhook and
its `/status` answer; they only grow while a job runs, and RunPod's webhook usually arrives after the
GPU worker's own `complete`, so they are kept whenever they come, a finished job included. The cost
is `execution_ms / 1000 * GPU_PRICE_PER_S`, fixed with the price of when the time was reported, kept
in millionths of a dollar (integers: the record's columns, and sums without rounding drift).
"""

from __future__ import annotations

from jobs.callbacks import Update
from jobs.model import JobRecord


def record(job: JobRecord, update: Update, price_per_s: float | None) -> bool:
    """Keep the usage an update reports (never going back); True when anything changed."""
    changed = False
    if update.queue_ms is not None and update.queue_ms > _known(job.queue_ms):
        job.queue_ms, changed = update.queue_ms, True
    if update.execution_ms is not None and update.execution_ms > _known(job.execution_ms):
        job.execution_ms, changed = update.execution_ms, True
        if price_per_s is not None:
            job.cost_micro_usd = round(job.execution_ms * price_per_s * 1000)
    return changed


def _known(ms: int | None) -> int:
    return -1 if ms is None else ms


def totals(jobs: int, execution_ms: int | None, cost_micro_usd: int | None) -> dict:
    """A group's totals as the API shows them."""
    return {"jobs": jobs, "gpu_seconds": round((execution_ms or 0) / 1000, 3),
            "cost_usd": round((cost_micro_usd or 0) / 1_000_000, 6)}


def report(groups: list[dict]) -> dict:
    """A user's usage from their jobs grouped by type and status (`JobTable.usage`): totals overall,
    by type and by status."""
    def add(into: dict, key: str, g: dict) -> None:
        t = into.setdefault(key, [0, 0, 0])
        t[0] += g["jobs"]
        t[1] += g["execution_ms"] or 0
        t[2] += g["cost_micro_usd"] or 0

    overall: dict = {}
    by_type: dict = {}
    by_status: dict = {}
    for g in groups:
        add(overall, "all", g)
        add(by_type, g["type"], g)
        add(by_status, g["status"], g)
    return {"totals": totals(*overall.get("all", [0, 0, 0])),
            "by_type": {k: totals(*v) for k, v in sorted(by_type.items())},
            "by_status": {k: totals(*v) for k, v in sorted(by_status.items())}}


def ledger_entry(job: JobRecord) -> dict:
    """What the usage ledger keeps of a job (durable_objects/usage_ledger.py)."""
    _, execution_ms, cost_micro_usd = job.usage_total()  # every attempt's
    return {"job_id": job.job_id, "user_id": job.user_id, "created_ms": job.created_ms, "type": job.type,
            "status": job.status, "execution_ms": execution_ms, "cost_micro_usd": cost_micro_usd}
