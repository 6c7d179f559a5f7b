"""A save of some jobs (docs/durable.md, "Writes are atomic"; docs/running.md, "Many jobs at once"):
a batch saves each job as it starts and ends, writing that job's lines alone, and what a load reads
back is what a whole save would have written."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.job import Run
from loopal_ipy.core.limits import Settings
from loopal_ipy.core.scheduler import Scheduler
from loopal_ipy.storage.store import Store


def state(jobs) -> list[tuple]:
    return sorted(
        (j.id, j.last_fired, j.next_fire, j.runs, j.skips, j.coalesced, [r.output for r in j.history]) for j in jobs
    )


def test_one_job_of_a_batch_is_saved_alone_and_loads_as_it_was(make_store, sched, monkeypatch) -> None:
    jobs = [sched.create("* * * * *", f"print({i})", durable=True) for i in range(50)]
    store = make_store()
    assert store.save(jobs, sched.clock.now())
    inode, size = os.stat(store.path).st_ino, store.journal_path.stat().st_size
    sched.clock.advance(60)
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    fire = sched.due(limit=1)[0]
    assert store.save_some([fire.job], sched.jobs, sched.clock.now())
    assert len(synced) == 1, "the job's start did not reach the disk before its code"
    started = store.journal_path.stat().st_size - size
    assert started < 400, started  # one state line, whatever the other 49 jobs hold
    status, back = make_store().peek()  # reads only
    assert status == "ok", status
    marks = {j.id: j.last_fired for j in back if j.last_fired is not None}
    assert marks == {fire.job.id: fire.occurrence}  # no other job was marked
    sched.finish(fire.job, Run(started_at=sched.clock.now(), output="done", occurrence=fire.occurrence))
    assert store.save_some([fire.job], sched.jobs, sched.clock.now())
    assert len(synced) == 1, "a finished run need not wait for the disk"
    assert os.stat(store.path).st_ino == inode, "cron.json was rewritten by a fire"
    back = make_store().load(sched.clock.now()).jobs
    assert state(j for j in back if j.id == fire.job.id) == state([fire.job])


def test_a_changed_definition_makes_it_a_whole_save(make_store, sched) -> None:
    job = sched.create("@every 1s", "p()", durable=True)
    store = make_store()
    assert store.save([job], sched.clock.now())
    sched.edit(job.id, schedule="@every 2s")
    assert store.save_some([job], sched.jobs, sched.clock.now())
    assert store.saves["definitions"] + store.saves["full"] == 2
    assert make_store().load(sched.clock.now()).jobs[0].schedule == "@every 2s"


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(1, 120), st.booleans(), st.integers(0, 3000)), min_size=1, max_size=30))
def test_saves_of_some_jobs_load_as_whole_saves_would(tmp_path_factory: pytest.TempPathFactory, steps) -> None:
    """Random batches (some runs fail, outputs of any size up to compaction): after each, the files
    hold what the scheduler holds."""
    home = tmp_path_factory.mktemp("home")
    clock = FakeClock("2026-01-05T12:00:00+00:00")
    core = Scheduler(clock, Settings(timezone="UTC", history_size=5))
    jobs = [core.create(f"@every {s}s", "p()", durable=True) for s in (1, 2, 3, 7)]
    store = Store(home, "some", history_size=5)
    assert store.save(jobs, clock.now())
    for seconds, ok, size in steps:
        clock.advance(seconds)
        while fires := core.due(limit=1):
            fire = fires[0]
            assert store.save_some([fire.job], core.jobs, clock.now())
            status = "ok" if ok else "error"
            run = Run(started_at=clock.now(), status=status, output="y" * size, occurrence=fire.occurrence)
            core.finish(fire.job, run)
            assert store.save_some([fire.job], core.jobs, clock.now())
        copy = tmp_path_factory.mktemp("copy")  # a load may write: read a copy, as a next kernel would
        shutil.copytree(home, copy, dirs_exist_ok=True)
        assert state(Store(copy, "some", history_size=5).load(clock.now()).jobs) == state(core.jobs())


def test_a_batch_puts_compaction_off_to_the_whole_save_after_it(make_store, sched) -> None:
    """A rewrite of every job (~0.3 s at 10,000) must not land between two jobs of a batch, where a
    cell would wait for it: saves of some jobs only say it is due, up to twice the bound."""
    jobs = [sched.create("@every 1s", f"p({i})", durable=True) for i in range(3)]
    store = make_store(history_size=2)
    assert store.save(jobs, sched.clock.now())
    big = "z" * 400_000
    while not store.compaction_due:
        sched.clock.advance(1)
        for fire in iter(lambda: sched.due(limit=1), []):
            job = fire[0].job
            assert store.save_some([job], sched.jobs, sched.clock.now())
            sched.finish(job, Run(started_at=sched.clock.now(), output=big, occurrence=fire[0].occurrence))
            assert store.save_some([job], sched.jobs, sched.clock.now())
    assert store.saves["full"] == 1  # put off
    grown = store.journal_path.stat().st_size
    assert store.save(sched.jobs(), sched.clock.now())
    assert store.saves["full"] == 2 and not store.compaction_due
    assert store.journal_path.stat().st_size < grown
    assert state(make_store().load(sched.clock.now()).jobs) == state(sched.jobs())
