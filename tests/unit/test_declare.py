"""Create cells are declarations (docs/running.md, "Create cells are declarations"), with a fake clock.

A notebook is re-run all day: the same create again changes nothing, a changed one updates the
job in place (same id, history, counts), and the old behaviour is one option away.
"""

from __future__ import annotations

import pytest

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.declare import Declaring
from loopal_ipy.core.errors import LimitError, NameTaken
from loopal_ipy.core.events import Kind
from loopal_ipy.core.job import Run
from loopal_ipy.core.scheduler import Scheduler


def ran(sched: Scheduler, clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds=seconds)
    for fire in sched.due():
        sched.finish(fire.job, Run(started_at=clock.now(), occurrence=fire.occurrence))


def test_the_same_named_create_twice_is_one_job_unchanged(sched: Scheduler) -> None:
    first = sched.declare("@every 1s", "x = 1", name="tick")
    again = sched.declare("@every 1s", "x = 1", name="tick")
    assert (first.outcome, again.outcome) == ("created", "unchanged")
    assert again.job is first.job and len(sched.jobs()) == 1 and again.changes == ()


def test_a_changed_named_create_updates_in_place_keeping_history(sched: Scheduler, clock: FakeClock) -> None:
    job = sched.create("@every 1s", "x = 1", name="tick")
    ran(sched, clock, 1)
    ran(sched, clock, 1)
    before = (job.id, job.runs, len(job.history), job.created_at)
    seen = []
    sched.subscribe(lambda e: seen.append((e.kind, e.message)))
    got = sched.declare("@every 5s", "x = 2", name="tick", timeout=30)
    assert got.outcome == "updated" and got.job is job
    assert got.changes == ('schedule "@every 1s" → "@every 5s"', 'code "x = 1" → "x = 2"', "--timeout none → 30")
    assert (job.id, job.runs, len(job.history), job.created_at) == before
    assert (job.schedule, job.code, job.timeout) == ("@every 5s", "x = 2", 30.0)
    assert job.next_fire is not None and (job.next_fire - clock.now()).total_seconds() <= 5
    assert seen == [(Kind.UPDATED, "; ".join(got.changes))]
    ran(sched, clock, 5)
    assert job.runs == 3  # it fires on the new schedule


def test_keep_leaves_a_changed_job_and_error_refuses_as_before(sched: Scheduler) -> None:
    job = sched.create("@every 1s", "x = 1", name="tick")
    kept = sched.declare("@every 9s", "x = 1", name="tick", if_exists="keep")
    assert kept.outcome == "kept" and kept.changes == ('schedule "@every 1s" → "@every 9s"',)
    assert job.schedule == "@every 1s"
    with pytest.raises(NameTaken, match=r"^name 'tick' is already used by job"):
        sched.declare("@every 1s", "x = 1", name="tick", if_exists="error")
    with pytest.raises(LimitError, match=r"^if_exists must be one of update, keep, error, got 'replace'"):
        sched.declare("@every 1s", "x = 1", name="tick", if_exists="replace")


def test_a_bad_redeclare_changes_nothing(sched: Scheduler) -> None:
    job = sched.create("@every 1s", "x = 1", name="tick")
    for bad in (("* * * * * *", "x = 1"), ("@every 2s", "x = ("), ("@every 2s", "")):
        with pytest.raises(Exception):  # noqa: B017 - each its own CronError
            sched.declare(*bad, name="tick")
    assert (job.schedule, job.code) == ("@every 1s", "x = 1")


def test_an_unnamed_create_rerun_from_the_same_cell_is_the_same_job(sched: Scheduler) -> None:
    a = sched.declare("@every 1s", "x = 1", Declaring(run="r1", cell="cell-a"))
    again = sched.declare("@every 1s", "x = 1", Declaring(run="r2", cell="cell-a"))
    changed = sched.declare("@every 2s", "x = 1", Declaring(run="r3", cell="cell-a"))
    other_cell = sched.declare("@every 2s", "x = 1", Declaring(run="r4", cell="cell-b"))
    assert [d.outcome for d in (a, again, changed, other_cell)] == ["created", "unchanged", "updated", "created"]
    assert again.job is a.job is changed.job and other_cell.job is not a.job
    assert len(sched.jobs()) == 2


def test_a_cell_that_creates_several_unnamed_jobs_finds_each_again(sched: Scheduler) -> None:
    first = [sched.declare("@every 1h", f"x{i} = 1", Declaring(run="r1", cell="c")).job for i in range(3)]
    again = [sched.declare("@every 1h", f"x{i} = 1", Declaring(run="r2", cell="c")) for i in range(3)]
    assert [d.job for d in again] == first and {d.outcome for d in again} == {"unchanged"}
    edited = [sched.declare("@every 1h", code, Declaring(run="r3", cell="c")) for code in ("y = 1", "x1 = 1")]
    assert [d.outcome for d in edited] == ["updated", "unchanged"] and len(sched.jobs()) == 3


def test_without_a_cell_id_the_same_definition_is_the_same_job(sched: Scheduler) -> None:
    """nbclient and papermill send no cell id: the same schedule, code and options."""
    loop = [sched.declare("@every 1h", "pass", Declaring(run="r1")) for _ in range(3)]
    assert {d.outcome for d in loop} == {"created"} and len(sched.jobs()) == 3  # one request: three jobs
    rerun = [sched.declare("@every 1h", "pass", Declaring(run="r2")) for _ in range(3)]
    assert [d.job for d in rerun] == [d.job for d in loop] and {d.outcome for d in rerun} == {"unchanged"}
    assert sched.declare("@every 1h", "pass", Declaring(run="r3"), timeout=5).outcome == "created"
    assert len(sched.jobs()) == 4


def test_outside_a_request_an_unnamed_create_is_always_new(sched: Scheduler) -> None:
    ids = {sched.create("@daily", "pass").id for _ in range(5)}
    assert len(ids) == 5


def test_a_deleted_job_is_not_found_again(sched: Scheduler) -> None:
    gone = sched.declare("@every 1s", "x = 1", Declaring(run="r1", cell="c")).job
    sched.delete(gone.id)
    back = sched.declare("@every 1s", "x = 1", Declaring(run="r2", cell="c"))
    assert back.outcome == "created" and back.job is not gone


def test_a_durable_flag_change_is_an_update(sched: Scheduler) -> None:
    job = sched.create("@every 1s", "x = 1", name="tick")
    got = sched.declare("@every 1s", "x = 1", name="tick", durable=True)
    assert got.outcome == "updated" and got.changes == ("--durable off → on",) and job.durable
    once = sched.declare("@every 1s", "x = 1", name="tick", durable=True, once=True)
    assert once.changes == ("--once off → on",) and not job.recurring


def test_two_unnamed_jobs_of_one_cell_keep_their_identities_through_edits(sched: Scheduler) -> None:
    """A redefined job keeps its place among its cell's jobs: edited lines never swap ids and histories."""
    a = sched.declare("@every 10s", "a()", Declaring(run="r1", cell="C")).job
    b = sched.declare("@every 20s", "b()", Declaring(run="r1", cell="C")).job
    sched.declare("@every 11s", "a()", Declaring(run="r2", cell="C"))
    sched.declare("@every 20s", "b()", Declaring(run="r2", cell="C"))
    x = sched.declare("@every 12s", "a()", Declaring(run="r3", cell="C"))
    y = sched.declare("@every 21s", "b()", Declaring(run="r3", cell="C"))
    assert (x.job, y.job) == (a, b) and (a.code, b.code) == ("a()", "b()")


def test_a_job_made_with_no_cell_id_becomes_the_cells_that_declares_it(sched: Scheduler) -> None:
    """A job from papermill (or a store written before cells were kept), then its cell edited in JupyterLab:
    updated in place, never a twin."""
    old = sched.declare("@hourly", "report()", Declaring(run="old"), durable=True).job
    assert sched.declare("@hourly", "report()", Declaring(run="r1", cell="A"), durable=True).outcome == "unchanged"
    edited = sched.declare("@hourly", "report(v=2)", Declaring(run="r2", cell="A"), durable=True)
    assert edited.outcome == "updated" and edited.job is old and old.cell == "A" and len(sched.jobs()) == 1
