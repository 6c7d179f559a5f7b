"""Clocks: the core is given the time, it never reads it.

The scheduler asks its clock for "now" as an aware UTC datetime. Tests use
FakeClock, which only moves when told and refuses to go backwards, so no test
sleeps and none depends on the machine's speed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time; cron is about wall time, so this is not monotonic."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock for tests that moves only forward, only when told."""

    def __init__(self, start: datetime | str = "2026-01-05T12:00:00+00:00") -> None:
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        if start.tzinfo is None:
            raise ValueError(f"FakeClock needs an aware start time, got {start!r}")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError(f"FakeClock cannot go backwards ({step})")
        self._now += step
        return self._now

    def set(self, when: datetime | str) -> datetime:
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        when = when.astimezone(UTC)
        if when < self._now:
            raise ValueError(f"FakeClock cannot go backwards from {self._now} to {when}")
        self._now = when
        return self._now
