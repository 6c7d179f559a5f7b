"""Retries and catch-up (docs/running.md), on the core with a fake clock: when each attempt comes, what is
never done (overlap, late regular fires, retries after an interrupt), and catch-up after downtime."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.errors import LimitError
from loopal_ipy.core.events import Kind
from loopal_ipy.core.job import CronJob, Run
from loopal_ipy.core.scheduler import Scheduler

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sched(clock: FakeClock) -> Scheduler:
    return Scheduler(clock)


def fire_and_finish(s: Scheduler, status: str, stopped: str | None = None) -> list[str]:
    """Act like the bridge: run what is due, each ending with ``status``; the triggers fired."""
    fired = []
    for f in s.due():
        error = "boom" if status == "error" else None
        run = Run(started_at=s.clock.now(), status=status, error=error, occurrence=f.occurrence, trigger=f.trigger)
        s.finish(f.job, replace(run, stopped=stopped))
        fired.append(f.trigger)
    return fired


def test_a_failed_run_is_retried_after_s_2s_4s_then_given_up(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@hourly", "poll()", retries=3, retry_delay=10)
    failed = []
    sched.subscribe(lambda e: failed.append(e) if e.kind == Kind.FINISHED and job.retry_at is None else None)
    clock.advance(3600)
    assert fire_and_finish(sched, "error") == ["schedule"]
    waits = []
    for attempt in (1, 2, 3):
        assert job.retry_at is not None
        waits.append((job.retry_at - clock.now()).total_seconds())
        clock.advance(waits[-1])
        assert fire_and_finish(sched, "error") == [f"retry {attempt} of 3"]
    assert waits == [10, 20, 40]
    assert job.retry_at is None and job.attempt == 0  # given up: the next regular occurrence comes next
    assert sched.next_deadline() == START + timedelta(hours=2)
    assert [r.trigger for r in job.history] == ["schedule", "retry 1 of 3", "retry 2 of 3", "retry 3 of 3"]
    assert len(failed) == 1  # one failure per occurrence: after its last attempt


def test_a_retry_never_reaches_the_next_occurrence(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 1m", "poll()", retries=5, retry_delay=20)
    clock.advance(60)
    fire_and_finish(sched, "error")  # at 1:00; retries at 1:20, then 1:20+40 = 2:00 = the next: not made
    assert job.retry_at == START + timedelta(seconds=80)
    clock.advance(20)
    assert fire_and_finish(sched, "error") == ["retry 1 of 5"]
    assert job.retry_at is None and sched.next_deadline() == START + timedelta(seconds=120)


def test_success_and_interrupts_end_the_retries(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@hourly", "poll()", retries=3, retry_delay=1)
    clock.advance(3600)
    fire_and_finish(sched, "error")
    clock.advance(1)
    assert fire_and_finish(sched, "ok") == ["retry 1 of 3"]
    assert job.retry_at is None
    clock.advance(3600)
    fire_and_finish(sched, "error", stopped="interrupted")
    assert job.retry_at is None  # Interrupt is the user's word: no retry


def test_a_timeout_is_retried_and_a_pause_drops_the_retry(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@hourly", "poll()", retries=2, retry_delay=5)
    clock.advance(3600)
    fire_and_finish(sched, "error", stopped="timeout")
    assert job.retry_at is not None
    sched.pause(job.id)
    clock.advance(5)
    assert sched.due() == []
    sched.resume(job.id)
    assert job.retry_at is None


def test_bad_retry_options_are_one_clear_error(sched: Scheduler) -> None:
    for options, said in (
        ({"retries": -1}, "retries must be a whole number"),
        ({"retries": 2, "retry_delay": 0}, "retry delay must be 1"),
        ({"catch_up": 60, "once": True}, "--catch-up is for recurring jobs"),
        ({"catch_up": -5}, "catch-up grace must be"),
    ):
        with pytest.raises(LimitError, match=said):
            sched.create("@hourly", "pass", **options)
    assert sched.jobs() == []


def _restored(job: CronJob, now: datetime) -> CronJob:
    """The job as a store rebuilds it after downtime, then rehydrated at ``now``."""
    back = CronJob.from_dict(job.to_dict())
    back.rehydrate(now)
    return back


def test_catch_up_runs_once_after_a_gap_within_grace_and_not_outside(sched: Scheduler, clock: FakeClock) -> None:
    daily = sched.create("0 9 * * *", "report()", durable=True, catch_up=4 * 86400, tz="UTC")
    short = sched.create("0 9 * * *", "report()", durable=True, catch_up=3600, tz="UTC")
    plain = sched.create("0 9 * * *", "report()", durable=True, tz="UTC")
    later = START + timedelta(days=3, hours=1)  # three 09:00s passed; the last 4 h ago
    for job, expect in ((daily, datetime(2026, 1, 8, 9, 0, tzinfo=UTC)), (short, None), (plain, None)):
        back = _restored(job, later)
        assert back.catch_up_for == expect
        assert back.next_fire == (expect or datetime(2026, 1, 9, 9, 0, tzinfo=UTC))
        core = Scheduler(FakeClock(later))
        core.add(back)
        fires = core.due()
        assert [f.trigger for f in fires] == (["catch-up for 2026-01-08 09:00"] if expect else [])
        assert core.due() == []  # once, never once per missed occurrence


def test_catch_up_default_grace_is_one_period(sched: Scheduler) -> None:
    job = sched.create("@hourly", "x = 1", durable=True, catch_up=0)
    assert _restored(job, START + timedelta(hours=5, minutes=30)).catch_up_for == START + timedelta(hours=5)
    assert _restored(job, START + timedelta(hours=1, minutes=59)).catch_up_for == START + timedelta(hours=1)


def test_catch_up_across_a_dst_night(clock: FakeClock) -> None:
    """Spring forward in Paris (2026-03-29): 02:30 does not exist; the 03:00 run is caught up once."""
    core = Scheduler(FakeClock(datetime(2026, 3, 28, 12, 0, tzinfo=UTC)))
    job = core.create("30 2 * * *", "x = 1", durable=True, catch_up=0, tz="Europe/Paris")
    back = _restored(job, datetime(2026, 3, 29, 3, 0, tzinfo=UTC))  # 05:00 Paris, after the gap
    assert back.catch_up_for is not None and back.catch_up_for.astimezone(back.compiled.tz).hour == 3


@settings(max_examples=150, deadline=None)
@given(
    every=st.integers(min_value=2, max_value=600),
    retries=st.integers(min_value=0, max_value=6),
    delay=st.integers(min_value=1, max_value=300),
    outcomes=st.lists(st.booleans(), min_size=1, max_size=40),
    ticks=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=40),
)
def test_retries_never_overlap_and_never_delay_the_next_occurrence(
    every: int, retries: int, delay: int, outcomes: list[bool], ticks: list[int]
) -> None:
    clock = FakeClock(START)
    s = Scheduler(clock)
    job = s.create(f"@every {every}s", "x = 1", retries=retries, retry_delay=delay)
    regular = [job.next_fire]
    for i, tick in enumerate(ticks):
        clock.advance(tick)
        now = clock.now()
        expected_next = job.compiled.next_after(now) if job.next_fire <= now else job.next_fire
        for f in s.due():
            assert not any(r.status == "running" for r in job.history)
            ok = outcomes[i % len(outcomes)]
            s.finish(
                f.job, Run(started_at=now, status="ok" if ok else "error", occurrence=f.occurrence, trigger=f.trigger)
            )
            assert not job.running  # one run at a time
        assert job.next_fire == expected_next  # a retry never moves the regular schedule
        if job.retry_at is not None:
            assert job.retry_at < job.next_fire  # and never reaches it
        regular.append(job.next_fire)


def test_every_surface_says_a_waiting_retry_is_the_next_start(sched: Scheduler, clock: FakeClock) -> None:
    """One rule for "when does this job next start" (docs/running.md): a retry it waits for comes before its
    next occurrence; the timer, the table's row and cell, and the live view's header all say the retry."""
    from loopal_ipy.ui import cells, columns, view

    job = sched.create("@hourly", "poll()", retries=2, retry_delay=30)
    clock.advance(3600)
    fire_and_finish(sched, "error")
    retry = clock.now() + timedelta(seconds=30)
    assert job.next_start == retry and job.next_is_retry
    assert sched.next_deadline() == retry
    assert columns.row(job, clock.now())["next fire"] == "2026-01-05 13:00:30 UTC (in 30s), retry 1 of 2"
    assert "13:00:30" in cells.next_cell(job, clock.now()) and "retry 1 of 2" in cells.next_cell(job, clock.now())
    assert "next 2026-01-05 13:00:30 UTC, retry 1 of 2" in view.head_parts(job)
    sched.pause(job.id)  # a pause drops the retry: nothing starts by itself
    assert job.next_start is None and columns.row(job, clock.now())["next fire"] == "—"
    sched.resume(job.id)
    assert job.next_start == START + timedelta(hours=2) and not job.next_is_retry
    assert columns.row(job, clock.now())["next fire"].startswith("2026-01-05 14:00:00 UTC (in ")


def test_a_run_now_that_outlasts_a_waiting_retry_delays_it_and_never_spins(sched: Scheduler, clock: FakeClock) -> None:
    """`%cron run` while a retry waits: the retry comes after that run, not beside it, and deciding what is
    due ends (it re-pushed the running job at its past retry time and took it again, forever)."""
    job = sched.create("@hourly", "poll()", retries=3, retry_delay=10)
    clock.advance(3600)
    fire_and_finish(sched, "error")
    clock.advance(5)
    sched.start_manual(job.id)  # the run outlasts the retry's time
    clock.advance(10)
    assert sched.due() == []  # returns: the retry waits for the run
    assert sched.next_deadline() == START + timedelta(hours=2)  # nothing to do until the run ends
    sched.finish(job, Run(started_at=clock.now(), status="ok", trigger="run-now"))
    assert sched.next_deadline() == START + timedelta(seconds=3610)  # the retry, due now
    assert fire_and_finish(sched, "ok") == ["retry 1 of 3"]
