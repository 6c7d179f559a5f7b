"""``%cron wait`` (docs/executed.md): a busy cell lets jobs fire until a job ran N more times.

A cell that awaits lets the kernel's loop run, and the loop's timer fires the
jobs (``wait``). A cell that cannot await — the body of ``%%time`` or
``%%capture``, ``%time %cron wait``, a kernel with ``%autoawait off`` — holds
the loop, so ``wait_blocking`` drives the scheduler itself: it sleeps until the
next due time and runs what is due in the cell's stead. Async jobs need the loop:
waiting for one that way is refused in one line, saying what works.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ..core.events import Kind
from ..core.job import CronJob

if TYPE_CHECKING:
    from ..core.scheduler import Scheduler
    from .runner import Runner


class Commands(Protocol):
    """What a wait needs of the kernel scheduler (commands.Commands is one): its core, loop and timer."""

    core: Scheduler
    loop: asyncio.AbstractEventLoop
    runner: Runner
    _openers: int
    _waiters: list[asyncio.Future[None]]

    @property
    def busy(self) -> bool: ...
    def _arm(self, soon: bool = False) -> None: ...
    def _cancel_timer(self) -> None: ...
    def _may_fire(self) -> bool: ...
    def _fire_due(self) -> None: ...
    def decide_due_verdicts(self) -> None: ...


_STEP = 0.25  # seconds: the longest a blocking wait sleeps between looks (Interrupt lands within it)
# A wait without --timeout waits for the N-th run plus SLACK, if that comes within WAIT_LIMIT; else it fails
# at once, saying when the run comes (docs/executed.md): an executed notebook must not sit for a week.
WAIT_LIMIT = 600.0
SLACK = 30.0


class _Plan:
    """What one wait waits for: a job (or every run), a goal, and until when."""

    def __init__(self, sched: Commands, key: str | None, runs: int, timeout: float | None, now: float) -> None:
        if runs < 1:
            raise ValueError(f"runs must be at least 1, got {runs}")
        if timeout is not None and not (math.isfinite(timeout) and timeout >= 0):
            raise ValueError(f"--timeout must be a finite number of seconds, got {timeout}; e.g. --timeout 30")
        self.sched, self.runs = sched, runs
        self.job = sched.core.get(key) if key is not None else None
        if self.job is None and not sched.core.jobs():
            raise LookupError("there are no jobs to wait for; create one with %cron create")
        self.goal = self.count() + runs
        self.timeout = _default_timeout(sched, self.job, runs) if timeout is None else timeout
        self.end = now + self.timeout

    def count(self) -> int:
        return self.job.runs if self.job is not None else self.sched.core.finished_runs

    def left(self, now: float) -> float:
        """Seconds left; raises what the user reads when none are, or when the job can no longer get there."""
        if self.job is not None:
            _check_still_waitable(self.sched, self.job)
        left = self.end - now
        if left <= 0:
            what = f"job {self.job.label}" if self.job else "jobs"
            raise TimeoutError(
                f"%cron wait gave up after {self.timeout:g} s: {what} ran {self.count() - self.goal + self.runs} of "
                f"{self.runs} time(s); pass --timeout S to wait longer"
            )
        return left


async def wait(sched: Commands, key: str | None, runs: int, timeout: float | None) -> int:
    plan = _Plan(sched, key, runs, timeout, sched.loop.time())
    opens = sched.busy and not sched.runner.in_job()
    with _opened(sched, opens):
        sched._arm(soon=True)
        while plan.count() < plan.goal:
            left = plan.left(sched.loop.time())
            fut = sched.loop.create_future()
            sched._waiters.append(fut)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(fut, left)
    return runs


def wait_blocking(sched: Commands, key: str | None, runs: int, timeout: float | None) -> int:
    if sched.runner.in_job():
        raise LookupError("a job cannot wait for jobs: it would run them inside its own run")
    plan = _Plan(sched, key, runs, timeout, time.monotonic())
    if plan.job is not None and sched.runner.is_async(plan.job):
        raise LookupError(
            f"job {plan.job.label} awaits, so it runs only while the kernel's loop does, and this cell holds "
            "the loop (inside %%time, %time or %%capture, or with %autoawait off): put %cron wait on a "
            "line of its own at the top level of a cell, with %autoawait on"
        )
    with _opened(sched, True):
        while plan.count() < plan.goal:
            sched.decide_due_verdicts()  # an interrupted run's pause, which the held loop cannot decide
            left = plan.left(time.monotonic())
            deadline = sched.core.next_deadline()
            due_in = math.inf if deadline is None else (deadline - sched.core.clock.now()).total_seconds()
            if due_in > 0:
                time.sleep(min(left, due_in, _STEP))
                continue
            sched._fire_due()
    return runs


@contextlib.contextmanager
def _opened(sched: Commands, opens: bool) -> Iterator[None]:
    """While a waiting cell waits, jobs may fire inside it."""
    if opens:
        sched._openers += 1
    try:
        yield
    finally:
        if opens:
            sched._openers -= 1
            if not sched._may_fire():
                sched._cancel_timer()


def _check_still_waitable(sched: Commands, job: CronJob) -> None:
    """A job removed or paused while a cell waits for it would never get there: say so."""
    if sched.core.live(job.id) is not job and not job.running:
        raise LookupError(f"job {job.label} was removed while waiting ({job.runs} runs seen)")
    if job.paused and not job.running:
        events = reversed(sched.core.events)
        why = next((e.message for e in events if e.job_id == job.id and e.kind == Kind.PAUSED), "")
        raise LookupError(
            f"job {job.label} is paused{f' ({why})' if why else ''}, {job.runs} runs seen; "
            f"%cron resume {job.name or job.id} first"
        )


def _default_timeout(sched: Commands, job: CronJob | None, runs: int) -> float:
    """The N-th run's time from now plus SLACK; a LookupError saying when it comes if that is past WAIT_LIMIT.

    Bounded work whatever ``runs`` is: past 100 steps the rest is extrapolated.
    """
    if job is not None:
        _check_still_waitable(sched, job)  # paused: say so, not that it never fires again
    jobs = [job] if job is not None else [j for j in sched.core.jobs() if not j.paused][:50]
    if not jobs:
        return 60.0
    now = sched.core.clock.now()
    spans = {j.id: _until_run(j, runs, now) for j in jobs}
    first = min(jobs, key=lambda j: spans[j.id])
    span = spans[first.id]
    if span <= WAIT_LIMIT:
        return span + SLACK
    what = f"job {first.label}" if job is not None else f"no job runs soon: the first, {first.label},"
    if math.isinf(span):
        when, hint = "never fires again", ""
    else:
        when = f"next fires in {_words(span)}" if runs == 1 else f"runs {runs} more times only in {_words(span)}"
        hint = f"; pass --timeout {math.ceil(span + SLACK)} to wait that long"
    raise LookupError(f"{what} {when}, and a wait without --timeout waits at most {_words(WAIT_LIMIT)}{hint}")


def _until_run(job: CronJob, runs: int, now: datetime) -> float:
    """Seconds from ``now`` to the job's ``runs``-th next run (inf: none before the year 9999); a run going
    on now, or a retry waiting, is the first."""
    if job.running:
        runs, soon = runs - 1, now
    elif job.next_is_retry and job.next_start is not None:
        runs, soon = runs - 1, max(now, job.next_start)
    else:
        soon = None
    if runs == 0 and soon is not None:
        return (soon - now).total_seconds()
    if job.next_fire is None or job.paused:
        return math.inf
    first = t = max(now, job.next_fire)
    steps = min(runs - 1, 100)
    assert job.compiled is not None  # CronJob.__post_init__ compiled it
    try:
        for _ in range(steps):
            t = job.compiled.next_after(t)
    except (OverflowError, ValueError):  # no occurrence before the year 9999
        return math.inf
    span = (t - now).total_seconds()
    if steps < runs - 1:
        span += (t - first).total_seconds() / steps * (runs - 1 - steps)
    return span


def _words(seconds: float) -> str:
    """'25 days', '3 h 20 min', '10 min', '45 s'."""
    s = round(seconds)
    if s >= 2 * 86400:
        return f"{s // 86400} days"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min" if s % 3600 >= 60 else f"{s // 3600} h"
    return f"{s // 60} min" if s >= 60 and s % 60 == 0 else f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"
