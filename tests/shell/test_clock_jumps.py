"""Wall-clock jumps and idle wake-ups, with an injected clock on a virtual-time loop (docs/running.md, "Clock jumps").

The bridge sleeps on the loop's monotonic timers but compares wall-clock due
times, and never sleeps longer than ``max_sleep`` (60 s). Here the loop's clock
is virtual (a select that "waits" by moving time on, so an hour takes
milliseconds) and the wall clock is that time plus an offset a test can jump,
forward (a laptop resumes, NTP steps) or back. Everything else is real: the
scheduler, the bridge, the runner, an in-process IPython shell.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from loopal_ipy.core.limits import Settings
from loopal_ipy.core.scheduler import Scheduler
from loopal_ipy.kernel.bridge import MAX_SLEEP, KernelScheduler
from loopal_ipy.kernel.runner import Runner

START = datetime(2026, 3, 2, 9, 0, 0, 250_000, tzinfo=UTC)


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop whose time only moves when it would otherwise wait."""

    def __init__(self) -> None:
        super().__init__(selectors.SelectSelector())
        self.virtual = 0.0
        real_select = self._selector.select

        def select(timeout: float | None = None) -> list:
            events = real_select(0)  # the loop's self-pipe and nothing else: never block
            if not events and timeout:
                self.virtual += timeout
            return events

        self._selector.select = select  # type: ignore[method-assign]

    def time(self) -> float:
        return self.virtual


class JumpClock:
    """Wall clock = START + the loop's virtual time + an offset that tests jump."""

    def __init__(self, loop: VirtualLoop) -> None:
        self.loop = loop
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return START + timedelta(seconds=self.loop.time()) + self.offset


@pytest.fixture
def rig(shell) -> Iterator[tuple[VirtualLoop, JumpClock, KernelScheduler]]:
    loop = VirtualLoop()
    clock = JumpClock(loop)
    core = Scheduler(clock, Settings(timezone="UTC"))
    bridge = KernelScheduler(shell, core, Runner(shell, clock), loop)
    bridge.start()
    try:
        yield loop, clock, bridge
    finally:
        bridge.stop()
        loop.close()


def run_for(loop: VirtualLoop, seconds: float) -> None:
    loop.run_until_complete(asyncio.sleep(seconds))


def run_until(loop: VirtualLoop, predicate, limit: float, step: float = 0.25) -> float:
    """Virtual seconds until ``predicate()`` holds (checked every ``step``), or ``limit`` + step."""
    t0 = loop.time()
    while not predicate() and loop.time() - t0 <= limit:
        run_for(loop, step)
    return loop.time() - t0


def test_max_sleep_is_a_minute() -> None:
    assert MAX_SLEEP == 60.0 and KernelScheduler.max_sleep == 60.0


@pytest.mark.parametrize("phase", [0.5, 15.0, 30.0, 45.0, 59.5])
def test_a_forward_jump_past_the_due_time_fires_once_within_a_minute(rig, phase: float) -> None:
    loop, clock, bridge = rig
    job = bridge.create("@every 1h", "pass", name="hourly")
    run_for(loop, 600 + phase)  # ten quiet minutes, then the jump lands `phase` s after a wake-up
    assert job.runs == 0
    clock.offset = timedelta(hours=1, seconds=5)  # the laptop slept through the due time
    took = run_until(loop, lambda: job.runs >= 1, limit=120)
    print(f"forward jump at phase {phase:g} s: fired {took:.2f} s (virtual) after the jump", file=sys.stderr)
    assert job.runs == 1 and took <= 60.0, took
    assert [r.status for r in job.history] == ["ok"]
    assert job.history[0].occurrence == job.created_at + timedelta(hours=1)
    run_for(loop, 600)
    assert job.runs == 1, "the jumped-over occurrence ran more than once"


def test_a_forward_jump_over_many_occurrences_fires_once_coalesced(rig) -> None:
    loop, clock, bridge = rig
    job = bridge.create("@every 1m", "pass")
    run_until(loop, lambda: job.runs >= 2, limit=180)
    runs = job.runs
    # Not a whole number of minutes: the wake-up set (1.5 ms early) for the last occurrence before the
    # jump would then land 1.5 ms before one after it, which runs on its own at its time (rightly).
    clock.offset = timedelta(hours=1, seconds=7)
    took = run_until(loop, lambda: job.runs > runs, limit=120)
    assert took <= 60.0
    assert job.runs == runs + 1, [(r.status, r.occurrence, r.started_at) for r in job.history]
    assert job.history[-2].status == "coalesced" and job.coalesced >= 59


def test_a_backward_jump_never_runs_an_occurrence_twice(rig) -> None:
    loop, clock, bridge = rig
    job = bridge.create("@every 1m", "pass")
    bridge.core.settings = Settings(timezone="UTC", history_size=500)
    run_until(loop, lambda: job.runs >= 3, limit=300)
    clock.offset = -timedelta(hours=1)  # NTP stepped the clock back an hour
    w0 = bridge.wakeups
    run_for(loop, 3600)  # the hour that repeats: no occurrence is due again
    assert bridge.wakeups - w0 <= 61, "more than one wake-up a minute while nothing was due"
    run_for(loop, 600)
    occurrences = [r.occurrence for r in job.history if r.status == "ok"]
    assert len(occurrences) == len(set(occurrences)), "an occurrence ran twice after the clock went back"
    assert occurrences == sorted(occurrences)
    assert 12 <= len(occurrences) <= 14


def test_idle_wakeups_with_one_job_a_day_away_are_at_most_one_a_minute(rig) -> None:
    loop, _clock, bridge = rig
    job = bridge.create("@daily", "pass")
    w0 = bridge.wakeups
    run_for(loop, 3600)
    woke = bridge.wakeups - w0
    print(f"one @daily job: {woke} wake-ups in an hour", file=sys.stderr)
    assert 59 <= woke <= 61
    assert job.runs == 0


def test_no_jobs_no_wakeups(rig) -> None:
    loop, _clock, bridge = rig
    run_for(loop, 3600)
    assert bridge.wakeups == 0
    job = bridge.create("@every 10s", "pass")
    bridge.delete(job.id)
    run_for(loop, 3600)
    assert bridge.wakeups == 0
