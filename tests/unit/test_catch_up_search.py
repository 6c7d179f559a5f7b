"""Catch-up after any downtime (docs/running.md, "Retries and catch-up"): the last missed occurrence is
found by bisection, exactly, with a cost that does not grow with the downtime.

The oracle is brute force with no bisection: walk forward (``next_after``, occurrence by occurrence)
from ``now - w`` for w = 1 min, 2 min, 4 min …, until a window holds an occurrence; the last one the
walk meets is the last occurrence at or before now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopal_ipy.core import schedule as schedule_module
from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.schedule import Schedule
from loopal_ipy.core.scheduler import Scheduler

SCHEDULES = [
    "* * * * *",
    "*/7 * * * *",
    "0 9 * * *",
    "30 2 * * *",  # skipped by spring-forward in Europe
    "30 1 * * *",  # twice at fall-back in America/New_York
    "0 9 * * MON-FRI",
    "15 */2 1,15 * *",
    "0 0 29 2 *",  # once in four years
    "0 12 13 * FRI",  # day OR weekday (Vixie)
    "@every 90s",
    "@every 7h",
    "@every 30d",
]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
YEAR = 365 * 86400
START = datetime(2025, 1, 1, tzinfo=UTC)


def oracle_last(sched: Schedule, after: datetime, now: datetime) -> datetime | None:
    """The latest occurrence in (after, now], by walking forward through widening windows."""
    width = timedelta(minutes=1)
    while True:
        start = max(after, now - width)
        last, t = None, start
        while (t := sched.next_after(t)) <= now:
            last = t
        if last is not None or start == after:
            return last
        width *= 2


def oracle_catch_up(sched: Schedule, after: datetime, now: datetime, grace: float) -> datetime | None:
    last = oracle_last(sched, after, now)
    if last is None:
        return None
    window = grace or (sched.next_after(last) - last).total_seconds()  # 0: one period
    return last if (now - last).total_seconds() <= window else None


@settings(max_examples=300, deadline=None)
@given(
    text=st.sampled_from(SCHEDULES),
    zone=st.sampled_from(ZONES),
    created=st.integers(min_value=0, max_value=YEAR),
    gap=st.integers(min_value=1, max_value=2 * YEAR),
    grace=st.one_of(st.just(0), st.integers(min_value=1, max_value=YEAR)),
)
def test_catch_up_picks_the_latest_occurrence_within_the_grace(
    text: str, zone: str, created: int, gap: int, grace: int
) -> None:
    made = START + timedelta(seconds=created)
    core = Scheduler(FakeClock(made))
    job = core.create(text, "report()", durable=True, catch_up=grace, tz=zone)
    saved = job.next_fire  # what the store holds: the first occurrence not yet fired
    assert saved is not None
    now = saved + timedelta(seconds=gap)
    expected = oracle_catch_up(job.compiled, saved - timedelta(microseconds=1), now, grace)

    calls = 0
    real = schedule_module._cron_next

    def counted(sched: object, t: datetime) -> datetime:
        nonlocal calls
        calls += 1
        return real.__wrapped__(sched, t)  # uncached: every call is work done

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule_module, "_cron_next", counted)
        got = job.missed_within_grace(now)
    assert got == expected, (text, zone, saved, now, grace)
    # The cost: a bisection over whole seconds of at most two years, whatever the downtime and grace
    # (a walk through each missed minute would make ~1,000,000 calls here).
    assert calls <= 64, calls
