"""A Durable Object's one alarm, and the time this instance last set or read for it.

Reading or setting the alarm is a storage call. The object is its alarm's only setter, so the time it
last set or read stays the alarm's time until the alarm fires (the handler calls `fired()`) or the
object is rebuilt (a new instance starts not knowing). Most events then cost no alarm call at all: a
progress report that leaves the job's next alarm where it was, a claim whose lease ends after the
earliest one, an upsert while the index's database write is already scheduled.
"""

from __future__ import annotations

from typing import Any

_UNKNOWN = object()


class AlarmTime:
    def __init__(self, storage: Any) -> None:
        self._storage = storage
        self._ms: Any = _UNKNOWN  # epoch ms, None for no alarm, or _UNKNOWN

    def forget(self) -> None:
        """The storage is to be asked again."""
        self._ms = _UNKNOWN

    def fired(self) -> None:
        """Called first by the alarm handler: the alarm that fired is spent (the runtime clears it once
        the handler succeeds; whatever the handler sets replaces it)."""
        self._ms = None

    async def current(self) -> int | None:
        """When the alarm is set for (epoch ms), or None."""
        if self._ms is _UNKNOWN:
            stored = await self._storage.getAlarm()
            self._ms = None if stored is None else int(stored)
        return self._ms

    async def set(self, due_ms: int | None) -> None:
        """Point the alarm at `due_ms`; None clears it."""
        if due_ms == self._ms:
            return
        if due_ms is None:
            await self._storage.deleteAlarm()
        else:
            await self._storage.setAlarm(due_ms)
        self._ms = due_ms

    async def no_later_than(self, due_ms: int) -> None:
        """Make sure the alarm fires by `due_ms`; an earlier one stands."""
        current = await self.current()
        if current is None or due_ms < current:
            await self.set(due_ms)
