"""The time deployed code stamps records with: milliseconds since the epoch, as stored and compared
by the Durable Objects (job records, the job index's idempotency keys, the encode queue's leases).

In workerd `time.time()` moves only across I/O, so every stamp taken within one event is the same.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)
