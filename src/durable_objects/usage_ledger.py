"""UsageLedger: one object (`getByName("global")`) holding every job's usage, fed by the users'
objects with their database batches; a thin shell over jobs/usage_ledger.py.

One object is enough for what it takes in: a batch per user per second at most, and a write per job
that ended (docs/api.md, "GPU usage"); the day it is not, it shards by user id.
"""

from __future__ import annotations

from workers import DurableObject

from jobs import usage_ledger


class UsageLedger(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.sql = ctx.storage.sql
        usage_ledger.ensure_schema(self.sql)

    def record(self, entries: list) -> None:
        usage_ledger.record(self.sql, entries)

    def ranking(self, from_ms: int, to_ms: int, limit: int) -> list:
        return usage_ledger.ranking(self.sql, from_ms, to_ms, limit)
