"""bindings.alarm_time over a fake Durable Object storage: the alarm's time, and the storage calls saved."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from bindings.alarm_time import AlarmTime


class Storage:
    def __init__(self, alarm: int | None = None) -> None:
        self.alarm, self.calls = alarm, 0

    async def getAlarm(self):  # noqa: N802 - the JS name
        self.calls += 1
        return self.alarm

    async def setAlarm(self, ms):  # noqa: N802
        self.calls += 1
        self.alarm = ms

    async def deleteAlarm(self):  # noqa: N802
        self.calls += 1
        self.alarm = None


ops = st.lists(st.one_of(st.tuples(st.just("set"), st.one_of(st.none(), st.integers(0, 50))),
                         st.tuples(st.just("no_later_than"), st.integers(0, 50)),
                         st.tuples(st.just("forget"), st.none())), max_size=30)


@given(st.one_of(st.none(), st.integers(0, 50)), ops)
def test_the_storage_always_holds_what_the_rules_say(initial, steps):
    storage, expected = Storage(initial), initial
    alarm = AlarmTime(storage)

    async def run():
        nonlocal expected
        for op, value in steps:
            if op == "set":
                await alarm.set(value)
                expected = value
            elif op == "no_later_than":
                await alarm.no_later_than(value)
                expected = value if expected is None or value < expected else expected
            else:
                alarm.forget()
            assert storage.alarm == expected
            assert await alarm.current() == expected

    asyncio.run(run())


def test_repeating_a_time_costs_no_storage_call_until_the_alarm_fires():
    storage = Storage()
    alarm = AlarmTime(storage)

    async def run():
        await alarm.set(10)
        await alarm.set(10)
        await alarm.no_later_than(20)
        assert storage.calls == 1 and await alarm.current() == 10
        storage.alarm = None  # it fired
        alarm.forget()
        assert await alarm.current() is None and storage.calls == 2
        await alarm.no_later_than(30)
        assert storage.alarm == 30

    asyncio.run(run())


def test_an_alarm_that_fired_is_known_spent_without_asking_the_storage():
    storage = Storage(alarm=10)  # the runtime clears it once the handler succeeds
    alarm = AlarmTime(storage)

    async def run():
        alarm.fired()
        await alarm.set(None)  # nothing more due: nothing to clear
        assert storage.calls == 0
        await alarm.no_later_than(30)  # something due: set without a getAlarm first
        assert storage.calls == 1 and storage.alarm == 30

    asyncio.run(run())
