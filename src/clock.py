"""The time deployed code stamps records with: milliseconds since the epoch, as stored and compared
by the Durable Objects (job records, idempotency keys, the encode queue's leases),
and how the API writes a time: ISO 8601, UTC, with a `Z`.

In workerd `time.time()` moves only across I/O, so every stamp taken within one event is the same.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(moment: datetime) -> str:
    """An aware datetime as the API writes times: ISO 8601 in UTC with a `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_ms(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC with a `Z`, to the millisecond (None stays None)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
