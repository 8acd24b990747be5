"""A queue row as the API shows it: unix seconds, as the seed's rows are, from the stored milliseconds.

The object keeps milliseconds so that a 1-second lease is really one second; the API rounds the
times a client must wait for (`lease_expires_at`, `available_at`) up, never promising a moment
earlier than the real one.
"""

from __future__ import annotations

STATUSES = ("pending", "in_progress", "finished", "dead")


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else int(ms) // 1000


def _seconds_up(ms: int | None) -> int | None:
    return None if ms is None else -(-int(ms) // 1000)


def api_row(row: dict) -> dict:
    return {
        "id": int(row["id"]),
        "file_name": row["file_name"],
        "crf": row["crf"],
        "preset": row["preset"],
        "status": row["status"],
        "created_at": _seconds(row["created_ms"]),
        "started": _seconds(row["started_ms"]),
        "finished": _seconds(row["finished_ms"]),
        "attempts": int(row["attempts"]),
        "max_attempts": int(row["max_attempts"]),
        "priority": int(row["priority"]),
        "lease_id": row["lease_id"],
        "lease_s": row["lease_s"],
        "lease_expires_at": _seconds_up(row["lease_expires_ms"]),
        "available_at": _seconds_up(row["available_ms"]),
        "error": row["error"],
    }
