"""The kernel bridge (SPEC §4): one timer on the kernel's loop, idle tracking, acting on decisions.

The core decides what is due; this module owns the only timer, knows whether a
cell is running (IPython's ``pre_run_cell``/``post_run_cell``, because an
awaiting cell lets loop callbacks run mid-cell), runs what is due through the
Runner, saves the durable set, and tells listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .errors import CronError, StoreError
from .job import CronJob, Run
from .runner import Runner
from .scheduler import Event, Fire, Scheduler

_EARLY = 0.002  # seconds: how early a timer may run before we wait it out instead of re-arming
_DURABLE_CHANGES = {
    "created",
    "deleted",
    "paused",
    "resumed",
    "fired",
    "finished",
    "removed",
    "expired",
    "skipped",
    "coalesced",
}


class KernelScheduler:
    """What ``loopal_ipy.get_scheduler()`` returns: the live scheduler of this kernel."""

    def __init__(
        self, shell: Any, core: Scheduler, runner: Runner, loop: asyncio.AbstractEventLoop, store: Any = None
    ) -> None:
        self.shell = shell
        self.core = core
        self.runner = runner
        self.loop = loop
        self.store = store
        self.busy = False
        self.waiting = 0
        self.wakeups = 0
        self.started = False
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: datetime | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dirty = False
        self._unsubscribe: Callable[[], None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._save_soon: asyncio.Handle | None = None
        self._retry: asyncio.TimerHandle | None = None
        # After %reload_ext, async runs still going report to the new scheduler.
        self.successor: Callable[[], KernelScheduler | None] = lambda: None

    # -------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self.started:
            return
        self.started = True
        self.runner.install()
        self._unsubscribe = self.core.subscribe(self._on_event)
        self.shell.events.register("pre_run_cell", self._pre_run_cell)
        self.shell.events.register("post_run_cell", self._post_run_cell)
        self._arm()

    def stop(self) -> None:
        """Cancel the timer, drop hooks, flush the store; symmetric with start()."""
        if not self.started:
            return
        self.started = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for name, cb in (("pre_run_cell", self._pre_run_cell), ("post_run_cell", self._post_run_cell)):
            with contextlib.suppress(ValueError):
                self.shell.events.unregister(name, cb)
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.runner.uninstall()
        self.flush()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self.store is not None:
            self.store.close()

    # ------------------------------------------------------------ idle state
    def _pre_run_cell(self, *_: Any) -> None:
        self.busy = True

    def _post_run_cell(self, *_: Any) -> None:
        self.busy = False
        deadline = self.core.next_deadline()
        if deadline is not None and deadline <= self.core.clock.now():
            # Let the cell's reply go out first; what came due while it ran fires next.
            self.loop.call_soon(self._wake)
        else:
            self._arm()

    # ----------------------------------------------------------------- timer
    def _arm(self) -> None:
        """Set the one timer for the earliest deadline (or none)."""
        if not self.started:
            return
        deadline = self.core.next_deadline()
        if deadline == self._armed_for and self._handle is not None:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed_for = deadline
        if deadline is None:
            return
        delay = max(0.0, (deadline - self.core.clock.now()).total_seconds())
        self._handle = self.loop.call_later(delay, self._wake)

    def _wake(self) -> None:
        armed_for = self._armed_for
        self._handle, self._armed_for = None, None
        if not self.started:
            return
        self.wakeups += 1
        if armed_for is not None:
            early = (armed_for - self.core.clock.now()).total_seconds()
            if 0 < early < _EARLY:
                # asyncio runs a timer up to its clock resolution early; re-arming for the
                # rest would cost a whole select round (~1 ms late), waiting it out costs `early`.
                time.sleep(early)
        try:
            if not self.busy or self.waiting:
                fires = self.core.due()
                # last_fired reaches the disk before any code starts: at most once per occurrence.
                self._save_if_dirty()
                for fire in fires:
                    self._start(fire)
        finally:
            if not self.busy or self.waiting:
                self._arm()

    def _start(self, fire: Fire) -> None:
        job = fire.job
        if self.runner.is_async(job):
            self._spawn(job, fire.occurrence, "schedule")
        else:
            self.core.finish(job, self.runner.run_sync(job, fire.occurrence))

    def _spawn(self, job: CronJob, occurrence: datetime | None, trigger: str) -> asyncio.Task[Any]:
        task = self.loop.create_task(self.runner.run_async(job, occurrence, trigger))
        self._tasks.add(task)

        def done(t: asyncio.Task[Run]) -> None:
            self._tasks.discard(t)
            run = (
                t.result()
                if not t.cancelled()
                else Run(
                    started_at=self.core.clock.now(),
                    status="error",
                    error="the job's task was cancelled",
                    occurrence=occurrence,
                    trigger=trigger,
                )
            )
            owner = self if self.started else self.successor()
            if owner is None:
                return
            if owner is not self:  # reloaded meanwhile: report to the scheduler that took over
                try:
                    job_now = owner.core.get(job.id)
                except CronError:
                    return
            else:
                job_now = job
            owner.core.finish(job_now, run)  # its history is saved with the next save
            owner._arm()

        task.add_done_callback(done)
        return task

    # --------------------------------------------------------------- events
    def _on_event(self, event: Event) -> None:
        if event.kind in _DURABLE_CHANGES:
            job = self._find(event.job_id)
            if job is None or job.durable:
                self._dirty = True
        if event.kind == "finished":
            for fut in self._waiters:
                if not fut.done():
                    fut.set_result(None)
            self._waiters.clear()
        if event.kind in ("created", "deleted", "paused", "resumed", "removed"):
            self._arm()

    def _find(self, job_id: str) -> CronJob | None:
        try:
            return self.core.get(job_id)
        except CronError:
            return self.core.find_removed(job_id)

    def _save_if_dirty(self) -> None:
        self._save_soon = None
        if not self._dirty:
            return
        if self.store is None:
            self._dirty = False
            return
        self._dirty = not self.store.save(self.core.jobs())
        if self._dirty and self._retry is None and self.started:
            # The store warned once; keep everything in memory and try again with backoff.
            self._retry = self.loop.call_later(max(1.0, self.store.retry_delay), self._retry_save)

    def _retry_save(self) -> None:
        self._retry = None
        self._save_if_dirty()

    def _request_save(self) -> None:
        """Save once the current cell yields: 1,000 creates in a loop make one write, not 1,000."""
        if self._dirty and self._save_soon is None and self.started:
            self._save_soon = self.loop.call_soon(self._save_if_dirty)
        elif not self.started:
            self._save_if_dirty()

    def flush(self) -> None:
        """Write pending changes now (unload, exit, session switch)."""
        if self._save_soon is not None:
            self._save_soon.cancel()
        self._save_if_dirty()

    # ------------------------------------------------------------ public API
    def create(
        self,
        schedule: str,
        code: str,
        *,
        once: bool = False,
        durable: bool = False,
        name: str | None = None,
        tz: str | None = None,
    ) -> CronJob:
        """Schedule ``code``; raises a CronError subclass (and creates nothing) on bad input."""
        if durable:
            if self.store is None:
                raise StoreError("durable jobs need a session store, and this kernel has none")
            self.store.check_can_create()
        job = self.core.create(schedule, code, once=once, durable=durable, name=name, tz=tz)
        self._request_save()
        return job

    def delete(self, key: str) -> CronJob:
        job = self.core.delete(key)
        self._request_save()
        return job

    def pause(self, key: str) -> CronJob:
        job = self.core.pause(key)
        self._request_save()
        return job

    def resume(self, key: str) -> CronJob:
        job = self.core.resume(key)
        self._request_save()
        return job

    def session_info(self, rest: str) -> str:
        """`%cron session [NAME] | --adopt OTHER`."""
        if self.store is None:
            return "session: none (durable jobs are off in this kernel)"
        words = rest.split()
        if not words:
            return self.store.describe()
        if words[0] == "--adopt":
            if len(words) != 2:
                raise StoreError("usage: %cron session --adopt OTHER_SESSION_ID")
            self.flush()
            text = self.store.adopt(words[1], self.core.jobs())
        elif len(words) == 1 and not words[0].startswith("-"):
            self.flush()
            text = self.store.switch(words[0], self.core.jobs())
        else:
            raise StoreError("usage: %cron session [NAME] | --adopt OTHER_SESSION_ID")
        self._dirty = False
        self._arm()
        return text + "\n" + self.store.describe()

    def jobs(self) -> list[CronJob]:
        return self.core.jobs()

    def running_ids(self) -> list[str]:
        return [j.id for j in self.core.jobs() if j.running]

    def get(self, key: str) -> CronJob:
        return self.core.get(key)

    def run_now(self, key: str) -> CronJob:
        """Run a job once now, outside its schedule; async code starts as a task."""
        job = self.core.start_manual(key)
        if self.runner.is_async(job):
            self._spawn(job, None, "run-now")
        else:
            self.core.finish(job, self.runner.run_sync(job, None, "run-now"))
            self._save_if_dirty()
        return job

    async def wait(self, key: str | None = None, runs: int = 1, timeout: float | None = None) -> int:
        """Let jobs fire while this (busy) cell waits, until ``key`` ran ``runs`` more times.

        Without ``key``, waits for ``runs`` more finished runs of any job. Raises
        TimeoutError with what was seen when ``timeout`` seconds pass.
        """
        if runs < 1:
            raise ValueError(f"runs must be at least 1, got {runs}")
        job = self.core.get(key) if key is not None else None
        if job is None and not self.core.jobs():
            raise LookupError("there are no jobs to wait for; create one with %cron create")

        def count() -> int:
            return job.runs if job is not None else sum(j.runs for j in self.core.jobs()) + self._removed_runs()

        goal = count() + runs
        if timeout is None:
            timeout = self._default_timeout(job, runs)
        end = self.loop.time() + timeout
        self.waiting += 1
        try:
            self._wake()
            while count() < goal:
                if job is not None and job.id not in {j.id for j in self.core.jobs()} and not job.running:
                    raise LookupError(f"job {job.label} was removed while waiting ({job.runs} runs seen)")
                left = end - self.loop.time()
                if left <= 0:
                    what = f"job {job.label}" if job else "jobs"
                    raise TimeoutError(
                        f"%cron wait gave up after {timeout:g} s: {what} ran {count() - goal + runs} of "
                        f"{runs} time(s); pass --timeout S to wait longer"
                    )
                fut = self.loop.create_future()
                self._waiters.append(fut)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(fut, left)
        finally:
            self.waiting -= 1
        return runs

    def _removed_runs(self) -> int:
        live = {j.id for j in self.core.jobs()}
        return sum(j.runs for j in self.core.removed if j.id not in live)

    def _default_timeout(self, job: CronJob | None, runs: int) -> float:
        """Long enough for ``runs`` occurrences plus slack; a run-all must never hang forever."""
        jobs = [job] if job is not None else [j for j in self.core.jobs() if not j.paused]
        now = self.core.clock.now()
        spans = []
        for j in jobs:
            t = max(now, j.next_fire or now)
            for _ in range(runs - 1):
                t = j.compiled.next_after(t)
            spans.append((t - now).total_seconds())
        return min(spans) + 30.0 if spans else 60.0
