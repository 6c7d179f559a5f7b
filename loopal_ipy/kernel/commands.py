"""What ``loopal_ipy.get_scheduler()`` offers: the commands on top of the kernel bridge.

``KernelScheduler`` (bridge.py) is the machine: one timer, busy depth, runs, saves. This is
its public face: create, delete, pause, resume, run now, wait, sessions, export, hooks,
and what the surfaces read. Everything here changes jobs through the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from ..core.declare import Declared, Declaring
from ..core.errors import CronError, JobNotFound, StoreError
from ..core.events import Event, Kind
from ..core.job import CronJob
from ..core.limits import CreateOptions, Settings
from ..core.scheduler import Scheduler
from . import waiting
from .busy import Cells, request_cell
from .hooks import HookEvent, Hooks
from .runner import Runner

if TYPE_CHECKING:
    from ..storage.export import Exported, ExportOptions
    from .face import SessionStore


class Commands:
    """The public API; the bridge (``KernelScheduler``, bridge.py) inherits it and defines the machine
    parts declared here (the timer, saves, runs, the loop's thread)."""

    core: Scheduler
    store: SessionStore | None
    runner: Runner
    loop: asyncio.AbstractEventLoop
    hooks: Hooks
    shell: Any
    _tasks: dict[asyncio.Task[Any], CronJob]
    _stopping: dict[str, Any]
    _openers: int
    _waiters: list[asyncio.Future[None]]
    _dirty: bool
    _touched: set[str]
    _lock: contextlib.AbstractContextManager[Any]
    _busy: Cells

    # the machine, which the bridge (KernelScheduler) supplies: declared here, defined there
    _request_save: Callable[[], None]
    _save_if_dirty: Callable[..., None]
    flush: Callable[..., None]
    _arm: Callable[..., None]
    _cancel_timer: Callable[[], None]
    _may_fire: Callable[[], bool]
    _run_sync: Callable[[CronJob, datetime | None, str], None]
    _spawn: Callable[[CronJob, datetime | None, str], asyncio.Task[Any]]
    off_loop: Callable[[], bool]
    call_soon: Callable[..., None]
    on_loop: Callable[[Callable[[Event], None]], Callable[[Event], None]]
    _fire_due: Callable[[], None]
    decide_due_verdicts: Callable[[], None]

    # the commands
    @property
    def busy(self) -> bool:
        """A cell is running (at any depth), here or in a subshell."""
        return self._busy.main_busy or self._busy.subshell_busy

    def on(self, name: str, callback: Callable[[HookEvent], Any], *, trusted: bool = False) -> Callable[[], None]:
        """Call ``callback(event)`` after each fired / finished / failed / skipped / expired / missed event.

        Returns the function that unsubscribes it. Hooks live with this scheduler: register
        them again after %reload_ext. See hooks.py for where their output and errors go.
        """
        return self.hooks.on(name, callback, trusted=trusted)

    def find(self, key: str) -> CronJob | None:
        """A live job (by id or name), else a removed one still remembered (its log), else None."""
        job = self.core.live(key)
        if job is None:
            try:
                job = self.core.get(key)
            except CronError:
                job = self.core.find_removed(key)
        return job

    def create(self, schedule: str, code: str, **options: Unpack[CreateOptions]) -> CronJob:
        """Declare the job that runs ``code`` on ``schedule`` and return it: new, or — re-run from the same
        cell, or under the same name — the existing one, updated in place if its definition changed
        (docs/running.md, "Create cells are declarations"). Raises a CronError subclass, changing
        nothing, on bad input.

        Options: ``once``, ``durable``, ``name``, ``tz``, ``if_exists`` ("update", "keep" or "error"), and
        the run-policy options of ``loopal_ipy.core.options.OPTIONS`` (``timeout``, ``retries``,
        ``retry_delay``, ``catch_up``: each says its meaning in its ``help``).
        """
        return self.declare(schedule, code, **options).job

    def declare(self, schedule: str, code: str, **options: Unpack[CreateOptions]) -> Declared:
        """``create``, saying what it did: created, unchanged, updated (and what changed) or kept."""
        if options.get("durable"):
            if self.store is None:
                raise StoreError("durable jobs need a session store, and this kernel has none")
            self.store.check_can_create()
        with self._lock:
            got = self.core.declare(schedule, code, self._declaring(), **options)
        self._request_save()
        job = got.job
        if job.durable and got.outcome != "unchanged" and self.unsaved() is not None:  # said at every change
            self.core.emit(Kind.STORE, job, f"{job.label} is in memory only for now: {self.unsaved()}")
        return got

    def edit(
        self, key: str, schedule: str | None = None, code: str | None = None, **options: Unpack[CreateOptions]
    ) -> Declared:
        """Change parts of a job's definition in place (schedule, code, tz, any run-policy option), as a
        re-run create with them changed would: same id, history and counts."""
        if options.get("durable") and self.store is not None:
            self.store.check_can_create()
        with self._lock, self._looking_up():
            got = self.core.edit(key, schedule, code, **options)
        self._request_save()
        return got

    def _declaring(self) -> Declaring | None:
        """The request a create comes from: none for a job's own code (its parent is some earlier cell's)."""
        if self.runner.in_job():
            return None
        cell, run = request_cell(self.shell)
        return None if run is None else Declaring(run=run, cell=cell)

    def unsaved(self) -> str | None:
        """Why durable jobs are not on disk now (the store's last save failed), or None."""
        return None if self.store is None else self.store.problem

    def delete(self, key: str) -> CronJob:
        """Delete a job; a run of it still going (an async one) is cancelled and logged as such."""
        with self._lock, self._looking_up():
            job = self.core.delete(key)
        if job.id in self.core.active:  # an async run of it goes on: cancel it, on the loop
            self.call_soon(self._cancel_runs_of, job)
        self._request_save()
        return job

    def _cancel_runs_of(self, job: CronJob) -> None:
        for task, owner in list(self._tasks.items()):
            if owner is job and not task.done():
                task.cancel("cancelled by %cron delete")

    def pause(self, key: str) -> CronJob:
        with self._lock, self._looking_up():
            job = self.core.pause(key)
        self._request_save()
        return job

    def resume(self, key: str) -> CronJob:
        with self._lock, self._looking_up():
            job = self.core.resume(key)
        self._request_save()
        return job

    def why_dropped(self, key: str) -> str | None:
        return None if self.store is None else self.store.why_dropped(key)

    def describe_session(self) -> str:
        """Which session, where its store is, who owns it."""
        if self.store is None:
            return "session: none (durable jobs are off in this kernel)"
        return self.store.describe()

    def switch_session(self, name: str) -> str:
        """Leave this session (its durable jobs stay on disk) and open ``name``."""
        return self._session_change(lambda store: store.switch(name, self.core.jobs()))

    def adopt_session(self, other: str) -> str:
        """Move another session's durable jobs into this one (a renamed or moved notebook)."""
        return self._session_change(lambda store: store.adopt(other, self.core.jobs()))

    def export(self, key: str, **options: Unpack[ExportOptions]) -> Exported:
        """Hand a job to jupyter-scheduler or a papermill bundle (docs/export.md); the live job is unchanged.

        The setup is what the job's code needs of the notebook (slicing.py); a papermill bundle is
        run once before this returns (``check``), and a failing run is an ExportError naming the cell."""
        from .graduate import KernelSide, export_job

        job = self.core.get(key)
        raw = list(getattr(getattr(self.shell, "history_manager", None), "input_hist_raw", None) or [])
        side = KernelSide(
            env=dict(os.environ),
            user_ns=self.shell.user_ns,
            history=raw[1:-1],  # [0] is empty; the last is the cell running this export
            cwd=Path.cwd(),
        )
        return export_job(job, side, **options)

    def _session_change(self, change: Callable[[SessionStore], str]) -> str:
        if self.store is None:
            raise StoreError("durable jobs are off in this kernel: it has no session store")
        self.flush()
        text = change(self.store)
        self._dirty, self._touched = False, set()
        self._arm()
        return text + "\n" + self.store.describe()

    def jobs(self) -> list[CronJob]:
        return self.core.jobs()

    def running_ids(self) -> list[str]:
        """Ids of jobs with a run in progress (also one whose job left and may come back)."""
        return sorted(self.core.active)

    def now(self) -> datetime:
        return self.core.clock.now()

    @property
    def events(self) -> Sequence[Event]:
        return self.core.events

    @property
    def settings(self) -> Settings:
        return self.core.settings

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """``listener(event)`` after each event, on the kernel's loop whatever thread made the change."""
        return self.core.subscribe(self.on_loop(listener))

    def output_so_far(self, job_id: str) -> tuple[datetime, str] | None:
        return self.runner.output_so_far(job_id)

    def watch(self, job_id: str) -> Callable[[], None]:
        return self.runner.watch(job_id)

    def stopping(self, job_id: str) -> bool:
        """An interrupted run of the job waits out the grace in which a restart's shutdown request comes."""
        return job_id in self._stopping

    def after_run(self, key: str) -> str:
        """What the job's child processes wrote after its runs had ended ("" if nothing)."""
        job = self.find(key)
        return self.runner.after_run(job.id if job is not None else key)

    def get(self, key: str) -> CronJob:
        with self._looking_up():
            return self.core.get(key)

    @contextlib.contextmanager
    def _looking_up(self) -> Any:
        """A job not found here may be another kernel's: the owner of this session (say where)."""
        try:
            yield
        except JobNotFound as e:
            where = self.store.elsewhere() if self.store is not None else None
            if where is not None:
                e.args = (f"no job {e.key!r} here: {where}",)
            raise

    def run_now(self, key: str) -> CronJob:
        """Run a job once now, outside its schedule; async code starts as a task.

        From another thread (a subshell, a widget click over one) the run starts on the kernel's
        loop, where all job code runs, as soon as it is free.
        """
        with self._lock, self._looking_up():
            job = self.core.start_manual(key)
        if self.off_loop():
            self.call_soon(self._run_now, job)
        else:
            self._run_now(job)
        return job

    def _run_now(self, job: CronJob) -> None:
        if self.runner.is_async(job):
            self._spawn(job, None, "run-now")
        else:
            self._run_sync(job, None, "run-now")
            self._save_if_dirty()

    async def wait(self, key: str | None = None, runs: int = 1, timeout: float | None = None) -> int:
        """Let jobs fire while this (busy) cell waits, until ``key`` ran ``runs`` more times.

        Without ``key``, waits for ``runs`` more finished runs of any job (every run counts,
        whatever became of its job since). Raises TimeoutError with what was seen when
        ``timeout`` seconds pass. Only a cell opens the window in which jobs fire; a job
        that waits just waits.
        """
        return await waiting.wait(self, key, runs, timeout)

    def wait_blocking(self, key: str | None = None, runs: int = 1, timeout: float | None = None) -> int:
        """``wait`` for a cell that cannot await (``%%time``, ``%%capture``, ``%autoawait off``): the
        scheduler is driven from here, and synchronous jobs run in the cell's stead."""
        return waiting.wait_blocking(self, key, runs, timeout)
