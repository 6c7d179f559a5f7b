"""The scheduler's decisions with a fake clock (docs/running.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.errors import CodeError, JobNotFound, LimitError, NameTaken, ScheduleError
from loopal_ipy.core.job import CronJob, Run
from loopal_ipy.core.limits import CACHED_CODE_CHARS, Settings, _compile_problem, compile_check
from loopal_ipy.core.scheduler import Scheduler


def run_due(s: Scheduler, status: str = "ok") -> list[tuple[str, datetime, int]]:
    """Act like the bridge: fire what is due and finish each run at once."""
    out = []
    for f in s.due():
        s.finish(f.job, Run(started_at=s.clock.now(), status=status, occurrence=f.occurrence))
        out.append((f.job.id, f.occurrence, f.merged))
    return out


def test_fake_clock_refuses_to_go_backwards(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set("2020-01-01T00:00:00+00:00")


def test_create_sets_id_next_fire_and_fields(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 10s", "x = 1", name="tick")
    assert len(job.id) == 8 and job.id.isalnum() and job.id.lower() == job.id
    assert job.next_fire == clock.now() + timedelta(seconds=10)
    assert (job.recurring, job.durable, job.paused, job.tz) == (True, False, False, "UTC")
    assert sched.get("tick") is job and sched.get(job.id) is job


def test_ids_are_unique(sched: Scheduler) -> None:
    sched.settings = Settings(max_jobs=1000, timezone="UTC")
    ids = {sched.create("@daily", "pass").id for _ in range(300)}
    assert len(ids) == 300


def test_next_deadline_is_the_earliest_and_none_when_empty(sched: Scheduler, clock: FakeClock) -> None:
    assert sched.next_deadline() is None
    sched.create("@hourly", "pass")
    b = sched.create("@every 30s", "pass")
    assert sched.next_deadline() == b.next_fire
    sched.delete(b.id)
    assert sched.next_deadline() == datetime(2026, 1, 5, 13, 0, tzinfo=UTC)


def test_nothing_due_before_the_deadline(sched: Scheduler, clock: FakeClock) -> None:
    sched.create("@every 10s", "pass")
    clock.advance(9.999)
    assert sched.due() == []
    clock.advance(0.001)
    assert len(sched.due()) == 1


def test_on_time_fires_advance_without_drift(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 10s", "pass")
    start = clock.now()
    for k in range(1, 6):
        clock.set(start + timedelta(seconds=10 * k, milliseconds=3))  # 3 ms late each time
        assert run_due(sched) == [(job.id, start + timedelta(seconds=10 * k), 0)]
    assert job.next_fire == start + timedelta(seconds=60)
    assert job.runs == 5 and job.coalesced == 0


def test_busy_period_coalesces_into_one_fire_and_history_says_so(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 1s", "pass")
    start = clock.now()
    clock.advance(5.5)  # the kernel was busy: occurrences at +1..+5 passed
    fired = run_due(sched)
    assert fired == [(job.id, start + timedelta(seconds=5), 4)]
    assert job.coalesced == 4 and job.runs == 1
    statuses = [r.status for r in job.history]
    assert statuses == ["coalesced", "ok"]
    assert "5 occurrences" in job.history[0].output
    assert job.next_fire == start + timedelta(seconds=6)
    assert any(e.kind == "coalesced" for e in sched.events)


def test_cron_job_coalesces_missed_minutes(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("* * * * *", "pass")
    clock.advance(minutes=3, seconds=30)
    assert run_due(sched) == [(job.id, datetime(2026, 1, 5, 12, 3, tzinfo=UTC), 2)]


def test_a_running_job_is_not_fired_again_and_the_skip_is_recorded(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 1s", "await asyncio.sleep(5)")
    clock.advance(1)
    [_fire] = sched.due()
    clock.advance(1)
    assert sched.due() == []  # still running: skipped
    assert job.skips == 1 and job.history[-1].status == "skipped"
    clock.advance(0.5)
    sched.finish(job, Run(started_at=clock.now(), status="ok"))
    clock.advance(0.5)
    assert [f.job for f in sched.due()] == [job]


def test_history_is_in_start_order_when_an_async_run_ends_after_skips(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 1s", "await asyncio.sleep(2.5)")
    clock.advance(1)
    [fire] = sched.due()
    started = clock.now()
    clock.advance(1)
    sched.due()  # skipped: still running
    clock.advance(1)
    sched.due()
    sched.finish(job, Run(started_at=started, status="ok", occurrence=fire.occurrence))
    assert [r.status for r in job.history] == ["ok", "skipped", "skipped"]
    assert job.last_run is not None and job.last_run.started_at == started


def test_once_job_fires_once_then_is_removed(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 5s", "pass", once=True)
    clock.advance(5)
    assert len(run_due(sched)) == 1
    assert job not in sched.jobs()
    assert sched.find_removed(job.id) is job
    clock.advance(60)
    assert run_due(sched) == []
    assert [e.kind for e in sched.events][-2:] == ["finished", "removed"]


def test_non_durable_job_expires_at_max_age_and_it_is_recorded(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@monthly", "pass")
    keep = sched.create("@monthly", "pass", durable=True)
    assert sched.next_deadline() == job.created_at + timedelta(days=3)
    clock.advance(days=3)
    assert run_due(sched) == []
    assert [j.id for j in sched.jobs()] == [keep.id]
    expired = [e for e in sched.events if e.kind == "expired"]
    assert [e.job_id for e in expired] == [job.id] and "Cron.max_age" in expired[0].message


def test_durable_job_never_expires_even_far_away(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@yearly", "pass", durable=True)
    clock.advance(days=300)
    assert sched.due() == [] and sched.jobs() == [job]


def test_paused_job_does_not_fire_and_resume_does_not_catch_up(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 1s", "pass")
    sched.pause(job.id)
    clock.advance(10)
    assert sched.due() == []
    sched.resume(job.id)
    assert job.next_fire == clock.now() + timedelta(seconds=1)
    clock.advance(1)
    assert [(f.job, f.merged) for f in sched.due()] == [(job, 0)]


def test_error_runs_count_failures_and_keep_schedule(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 1s", "1/0")
    clock.advance(1)
    run_due(sched, status="error")
    assert (job.runs, job.failures, job.state) == (1, 1, "error")
    assert sched.jobs() == [job] and job.next_fire > clock.now()


def test_history_is_bounded_and_output_capped(clock: FakeClock) -> None:
    s = Scheduler(clock, Settings(timezone="UTC", history_size=3, output_limit=10))
    job = s.create("@every 1s", "print('x' * 50)")
    for _ in range(5):
        clock.advance(1)
        for f in s.due():
            s.finish(f.job, Run(started_at=clock.now(), output="x" * 45 + "LATEST", error="e" * 40 + "Boom"))
    assert len(job.history) == 3
    # The latest output is what matters (the first characters used to be kept).
    assert job.history[-1].output == "[… first 41 characters cut: Cron.output_limit]\n" + "xxxxLATEST"
    assert job.history[-1].error == "[… first 34 characters cut: Cron.output_limit]\n" + "eeeeeeBoom"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"schedule": "* * * * * *", "code": "x=1"}, ScheduleError, r"^6 fields given"),
        ({"schedule": "@every 0s", "code": "x=1"}, ScheduleError, r"too short"),
        ({"schedule": "@daily", "code": "x ="}, CodeError, r"^code does not compile: invalid syntax \(line 1\)"),
        ({"schedule": "@daily", "code": "   "}, CodeError, r"^no code given"),
        ({"schedule": "@daily", "code": "x" * 70_000}, LimitError, r"^code is 70,000 characters; the limit is 65,536"),
        ({"schedule": "@daily", "code": "x=1", "tz": "Nowhere/City"}, ScheduleError, r"^unknown timezone"),
        ({"schedule": "@daily", "code": "x=1", "name": "bad name!"}, NameTaken, r"^bad job name"),
    ],
)
def test_bad_creates_change_nothing(sched: Scheduler, kwargs: dict, error: type, message: str) -> None:
    before = list(sched.events)
    with pytest.raises(error, match=message):
        sched.create(**kwargs)
    assert sched.jobs() == [] and list(sched.events) == before and sched.next_deadline() is None


def test_top_level_await_compiles(sched: Scheduler) -> None:
    sched.create("@daily", "import asyncio\nawait asyncio.sleep(0)")


def test_max_jobs_is_a_clear_error(clock: FakeClock) -> None:
    s = Scheduler(clock, Settings(timezone="UTC", max_jobs=2))
    s.create("@daily", "pass")
    s.create("@daily", "pass")
    with pytest.raises(LimitError, match=r"^this session already has 2 jobs, the limit \(Cron.max_jobs = 2\)"):
        s.create("@daily", "pass")
    assert len(s.jobs()) == 2


def test_duplicate_names_and_unknown_ids(sched: Scheduler) -> None:
    sched.create("@daily", "pass", name="report")
    with pytest.raises(NameTaken, match=r"^name 'report' is already used"):
        sched.create("@daily", "pass", name="report", if_exists="error")
    with pytest.raises(JobNotFound, match=r"^no job 'zzz'; known jobs: .* \(report\)$"):
        sched.get("zzz")


def test_job_round_trips_through_a_dict(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("0 9 * * MON-FRI", "send()", durable=True, name="report", tz="Europe/Paris")
    clock.advance(days=1)
    run_due(sched)
    back = CronJob.from_dict(job.to_dict())
    assert back.to_dict() == job.to_dict()
    assert back.compiled.next_after(clock.now()) == job.compiled.next_after(clock.now())


def test_listeners_see_events_in_order(sched: Scheduler, clock: FakeClock) -> None:
    seen: list[str] = []
    unsubscribe = sched.subscribe(lambda e: seen.append(e.kind))
    job = sched.create("@every 1s", "pass")
    sched.pause(job.id)
    sched.resume(job.id)
    clock.advance(1)
    run_due(sched)
    unsubscribe()
    sched.delete(job.id)
    assert seen == ["created", "paused", "resumed", "fired", "finished"]


def test_heap_garbage_is_bounded(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 1s", "pass")
    for _ in range(1000):
        sched.pause(job.id)
        sched.resume(job.id)
    assert len(sched._deadlines._heap) < 100


@pytest.mark.parametrize("size", [10, CACHED_CODE_CHARS, CACHED_CODE_CHARS + 1, 50_000])
def test_the_compile_cache_never_lets_bad_code_through(size: int) -> None:
    """compile_check remembers short codes: a refusal must be said again, word for word, every time, on both
    sides of the cached size, and good code next to it must still pass (nothing bad is created)."""
    bad = "x = (" + " " * (size - 5)
    good = "x = 1" + " " * (size - 5)
    said = set()
    for _ in range(3):
        with pytest.raises(CodeError, match=r"^code does not compile: .*; nothing was created$") as caught:
            compile_check(bad)
        said.add(str(caught.value))
        compile_check(good)
    assert len(said) == 1


def test_the_compile_cache_stays_bounded_under_many_codes() -> None:
    for i in range(3_000):  # a store of many different codes, good and bad
        code = f"x = {i}" if i % 2 else f"x = ({i}"
        if i % 2:
            compile_check(code)
        else:
            with pytest.raises(CodeError):
                compile_check(code)
    info = _compile_problem.cache_info()
    assert info.currsize <= 1024 and info.maxsize == 1024


def test_history_is_a_bounded_list_that_slices(sched: Scheduler, clock: FakeClock) -> None:
    """Regression: job.history was a deque, so history[-2:] raised TypeError."""
    sched.set_settings(history_size=3)
    job = sched.create("@every 1s", "x = 1")
    for _ in range(5):
        clock.advance(1)
        run_due(sched)
    assert isinstance(job.history, list) and len(job.history) == 3
    last_two = job.history[-2:]
    assert [r.started_at for r in last_two] == [r.started_at for r in list(job.history)[1:]]
    assert job.history[-1].started_at == clock.now()
    assert job.history.maxlen == 3


def test_skip_missed_records_what_passed_while_held_and_never_runs_it_late(sched: Scheduler, clock: FakeClock) -> None:
    """Cron.keep_alive: occurrences that passed while no page showed a dashboard are skips, not late fires."""
    every = sched.create("@every 1s", "x = 1")
    once = sched.create("@every 1s", "y = 1", once=True)
    held = sched.create("@every 1s", "z = 1")
    sched.pause(held.id)
    clock.advance(10.5)
    assert sched.skip_missed("no page showed this kernel") == 11  # 10 of `every`, 1 of `once`
    assert every.skips == 10 and every.next_fire > clock.now() and every.history[-1].status == "skipped"
    assert "no page showed this kernel" in every.history[-1].output
    assert sched.live(once.id) is None and held.skips == 0
    assert run_due(sched) == []  # nothing late is left to fire


@pytest.mark.parametrize(
    ("option", "value"), [("name", "other"), ("if_exists", "error"), ("cell", "cell-1"), ("colour", "red")]
)
def test_edit_refuses_what_it_cannot_change_and_changes_nothing(sched: Scheduler, option: str, value: str) -> None:
    """edit() changes a job's definition; a name, if_exists or an unknown keyword would be dropped silently."""
    job = sched.create("@every 10s", "x = 1", name="tick")
    before = job.definition()
    with pytest.raises(LimitError, match=rf"^edit\(\) cannot change '{option}'; it changes "):
        sched.edit("tick", schedule="@every 20s", **{option: value})  # type: ignore[arg-type]
    assert job.definition() == before and sched.get("tick") is job
