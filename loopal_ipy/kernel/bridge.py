"""The kernel bridge (docs/running.md): one timer on the kernel's loop, busy depth, acting on decisions.

The core decides what is due; this module owns the only timer, knows whether a
cell is running, runs what is due through the Runner, saves the durable set,
and tells listeners.

- **Busy is a depth** (``busy.py``), counted in the main shell and in each
  subshell. Only a waiting *cell* (``%cron wait``, ``await loopal_ipy.wait``)
  opens a window; a job that waits does not.
- **One timer.** Every wake-up goes through ``_arm``, which cancels before it
  sets; none is armed while a cell runs (``post_run_cell`` arms).
- **Wall-clock deadlines, monotonic sleeps.** Due times are wall-clock
  instants, but the loop's timers are monotonic, and the monotonic clock stops
  while a laptop sleeps. The timer never sleeps more than ``max_sleep`` (60 s),
  so a jump forward (resume, an NTP step) is noticed within a minute. A
  backward step only delays: ``next_fire`` never moves back, so no occurrence
  runs twice.
- **Threads cross over.** ipykernel 7 runs subshell cells (and, from
  JupyterLab, widget clicks) on threads of their own, and a job may start
  threads that call the API. Such a call changes the core under ``_lock`` and
  hands everything that touches the loop (the timer, listeners, runs) to it
  with ``call_soon_threadsafe``; a subshell's cell counts as busy while it runs.
- **Every fire is closed exactly once** (finished, or abandoned as a recorded
  skip), in whichever scheduler owns the job by then: a job may reload the
  extension or switch the session while it runs.
- **Restart is not Interrupt** (docs/running.md). jupyter_client interrupts a
  kernel before it asks it to shut down, so a run stopped by SIGINT is held
  (still running) for ``INTERRUPT_GRACE`` s: a shutdown request in that time
  (IPython's ``exit_now``) makes it a run ended by the restart, and the job stays
  active; otherwise it was a person's *Interrupt*, and the job is paused. A
  SIGTERM that stops a run settles the store and then ends the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..core.events import GONE, PERSISTED, REARM, SAVE_SOON, STATE_ONLY, WAKE_WAITERS, Event, Fire, Kind
from ..core.job import CronJob, Run
from ..core.scheduler import Scheduler
from .activity import Activity
from .busy import EVENTS, Cells, displaying_cell
from .commands import Commands
from .hooks import Hooks
from .runner import Attempt, Runner, ended_by_restart
from .saving import Saving
from .shown import GRACE, Shown

if TYPE_CHECKING:
    from .face import SessionStore

# The timer is set LEAD s before a deadline and the rest slept out (nanosleep): epoll rounds a timeout up
# to a whole ms, so a timer set for the deadline runs ~1-1.6 ms late (docs/running.md says the price).
LEAD = 0.0015
_EARLY = LEAD + 0.002  # seconds: how early a timer may run before we wait it out instead of re-arming
MAX_SLEEP = 60.0  # seconds: the longest the timer sleeps, so a wall-clock jump forward is seen within a minute
# Seconds an interrupted run waits for the shutdown request that follows a restart's interrupt (sent at once
# by jupyter_client): only an interrupt with none after it pauses the job (docs/running.md).
INTERRUPT_GRACE = 2.0
# After a job of a batch that took longer than BREATH_AFTER s, the next waits BREATH s: a cell sent
# meanwhile reaches the kernel (a few loop turns, across ipykernel's threads) and runs first.
BREATH_AFTER = 0.005
BREATH = 0.002
# Seconds after a batch before the journal's compaction (a rewrite of every job, ~0.3 s at 10,000): the
# cells sent during the batch are answered first.
COMPACT_AFTER = 1.0


class KernelScheduler(Saving, Commands):
    """What ``loopal_ipy.get_scheduler()`` returns: the live scheduler of this kernel."""

    max_sleep = MAX_SLEEP

    def __init__(
        self,
        shell: Any,
        core: Scheduler,
        runner: Runner,
        loop: asyncio.AbstractEventLoop,
        store: SessionStore | None = None,
    ) -> None:
        self.shell = shell
        self.core = core
        self.runner = runner
        self.loop = loop
        self.store = store
        self.wakeups = 0
        self.started = False
        self._busy = Cells(self._cell_started, self._cells_ended, loop.call_soon_threadsafe)
        self._lock = threading.RLock()  # the core, changed from a thread other than the loop's
        self._openers = 0  # cells waiting for jobs (%cron wait): while > 0, jobs may fire mid-cell
        self._at_cell_end: list[Callable[[], None]] = []  # live views: what the cells did, before the reply
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: datetime | None = None
        self.hooks = Hooks(
            self.find,
            self._soon,
            lambda job_id, said: self.core.emit(Kind.HOOK, job_id, said),
            guard=runner.guarded,
            timeout=lambda: self.core.settings.hook_timeout,
        )
        self._tasks: dict[asyncio.Task[Any], CronJob] = {}
        self._dirty = False
        self._touched: set[str] = set()
        self._in_batch = False  # jobs due at once are running, one per loop turn, under one busy/idle pair
        self._breath = 0.0  # seconds the next job of a batch waits (see BREATH)
        self._compacting: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._save_soon: asyncio.Handle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._activity = Activity(shell)
        self.hooks.on_sigterm = self._end_by_sigterm
        self.hooks.terminating = lambda: runner.stopper.terminating
        self.ending = False  # the kernel was asked to shut down (or restart): nothing more starts
        self._stopping: dict[str, tuple[CronJob, Run, asyncio.TimerHandle]] = {}  # interrupted, verdict pending
        self.shown = Shown()  # Cron.keep_alive: whether a page shows this kernel (shown.py)
        # After %reload_ext, runs still going report to the new scheduler.
        self.successor: Callable[[], KernelScheduler | None] = lambda: None

    # -------------------------------------------------------------- lifecycle
    def start(self, cells: tuple[Any, ...] | None = None) -> None:
        """Hook into the shell and arm the timer; ``cells``: those running now (known from a reload)."""
        if self.started:
            return
        self.started = True
        self._busy.adopt(cells, in_a_cell=self.loop.is_running())
        self.runner.install()
        self._unsubscribe = self.core.subscribe(self.on_loop(self._on_event))
        for name in EVENTS:
            self.shell.events.register(name, getattr(self._busy, name))
        if hasattr(self.shell, "observe"):  # ipykernel's shutdown request sets it (so does exit() in a cell)
            self.shell.observe(self._on_exit_now, names="exit_now")
        self._arm()

    def stop(self) -> None:
        """Cancel the timer, drop hooks, flush the store; symmetric with start()."""
        if not self.started:
            return
        self._settle_stopping()  # a run held for its verdict is closed here, while this scheduler owns it
        self.started = False
        self._cancel_timer()
        self._end_batch()
        if self._compacting is not None:
            self._compacting.cancel()
            self._compacting = None
        for name in EVENTS:
            with contextlib.suppress(ValueError):
                self.shell.events.unregister(name, getattr(self._busy, name))
        if hasattr(self.shell, "unobserve"):
            with contextlib.suppress(ValueError):
                self.shell.unobserve(self._on_exit_now, names="exit_now")
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.runner.uninstall()
        self.flush()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self.store is not None:
            self.store.close()

    def at_exit(self) -> None:
        """The process ends normally: a run cut short by the exit is no hang, so it is saved as not running."""
        self.ending = True
        for job, run, handle in self._take_stopping():  # the loop stopped first: the exit was the restart
            handle.cancel()
            with self._lock:
                self.core.finish(self.core.live(job.id) or job, ended_by_restart(run))
        self._dirty = self._dirty or bool(self.core.active)
        self.flush(settled=True)
        if self.store is not None:
            self.store.discard_if_private()

    # ------------------------------------------------------------ idle state
    def off_loop(self) -> bool:
        """Called from a thread other than the loop's (a subshell, a thread a job started)."""
        return self._busy.off_loop()

    def call_soon(self, call: Callable[..., None], *args: Any) -> None:
        """``call(*args)`` on the loop: now if this is the loop's thread and none runs, else queued, safely."""
        if self.off_loop():
            self.loop.call_soon_threadsafe(call, *args)
        elif self.loop.is_running():
            self.loop.call_soon(call, *args)
        else:
            call(*args)

    def on_loop(self, listener: Callable[[Event], None]) -> Callable[[Event], None]:
        """``listener``, called on the loop whichever thread the event came from."""

        def called(event: Event) -> None:
            if self.off_loop():
                self.loop.call_soon_threadsafe(listener, event)
            else:
                listener(event)

        return called

    @property
    def cells(self) -> tuple[Any, ...]:
        """The cells running now, outermost first (handed to the next scheduler on a reload)."""
        return self._busy.running

    def _may_fire(self) -> bool:
        return (not self._busy.main_busy or self._openers > 0) and not self._busy.subshell_busy and not self.ending

    def _cell_started(self) -> None:
        if not self._openers:
            self._cancel_timer()  # nothing fires inside a cell; its end arms again
            self._end_batch()  # the cell says busy (and idle) itself; the rest of a batch follows it

    def _cells_ended(self) -> None:
        """The main shell is idle again: what its cells changed reaches the disk before their reply goes
        (a kill right after "created" keeps the job), and the timer is set."""
        if self._save_soon is not None and not self.off_loop():
            self._save_soon.cancel()
            self._save_if_dirty()
        if not self.off_loop():
            for callback in list(self._at_cell_end):
                try:
                    callback()
                except Exception as e:  # a view's bug: said where hooks' faults are, the cell's reply goes on
                    self.core.emit(Kind.HOOK, "-", f"a view failed at a cell's end: {type(e).__name__}: {e}"[:300])
        self._arm()

    # ----------------------------------------------------------------- timer
    def rearm(self) -> None:
        """Set the timer again now (a setting changed, or this kernel took its session over)."""
        self._arm()

    def _cancel_timer(self) -> None:
        if self.off_loop():
            self.loop.call_soon_threadsafe(self._cancel_timer)
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._armed_for = None, None

    def _arm(self, soon: bool = False) -> None:
        """Set the one timer for the earliest deadline (at most ``max_sleep`` away), or for now."""
        if self.off_loop():
            self.loop.call_soon_threadsafe(self._arm, soon)
            return
        if not self.started or not self._may_fire():
            self._cancel_timer()
            return
        deadline = self.core.next_deadline()
        if deadline is None and not soon:
            self._cancel_timer()
            return
        now = self.core.clock.now()
        if (
            not soon
            and deadline is not None
            and self._handle is not None
            and deadline == self._armed_for
            and deadline > now
        ):
            return
        self._cancel_timer()
        delay = 0.0 if soon or deadline is None else (deadline - now).total_seconds()
        self._armed_for = deadline
        # Within LEAD of it (a lead slept out on a clock that did not move), a plain timer: no spinning.
        wait = delay - LEAD if delay > LEAD else delay
        if wait <= 0 and self._in_batch:
            wait = self._breath
        self._handle = self.loop.call_later(min(max(0.0, wait), self.max_sleep), self._wake)

    def _wake(self) -> None:
        armed_for = self._armed_for
        self._handle, self._armed_for = None, None
        if not self.started:
            return
        self.wakeups += 1
        if not self._may_fire():
            return  # a cell runs: its post_run_cell arms again
        if self.shown.gone():
            self._end_batch()  # held: the kernel says idle, so that its culler may end it
            self._hold_for_page()
            return  # silent until a page shows the kernel again (a beat arms)
        if armed_for is not None:
            early = (armed_for - self.core.clock.now()).total_seconds()
            if 0 < early < _EARLY:
                # armed LEAD early (or run early by asyncio's clock resolution): re-arming for the
                # rest would cost a whole select round (~1 ms late), waiting it out costs `early`.
                time.sleep(early)
        try:
            self._fire_due()
        finally:
            self._arm()

    def _fire_due(self) -> None:
        """Start the earliest due job, if any (the timer's work; a blocking ``%cron wait`` calls it too).

        One job per loop turn (docs/running.md, "Many jobs at once"): a cell sent while 10,000 jobs are
        due waits for the one that runs, not for all. Each is decided just before it starts, and its
        last_fired and "running" mark reach the disk then, with what the job before it left: at most once
        per occurrence, and only a job whose code started comes back paused if the kernel dies.
        """
        with self._lock:
            fires = self.core.due(limit=1)
        self._save_if_dirty()
        if fires:
            if not self._in_batch:
                self._in_batch = True
                self._activity.hold()  # one busy/idle pair for the whole batch
            began = time.monotonic()
            try:
                self._start(fires[0])
            except Exception as e:  # ours, never the job's (the runner catches those): this job only
                self._fault(fires[0].job, e)
            self._breath = BREATH if time.monotonic() - began > BREATH_AFTER else 0.0
        deadline = self.core.next_deadline()
        if deadline is None or deadline > self.core.clock.now():
            self._end_batch()
            if self.store is not None and self.store.compaction_due and self._compacting is None:
                self._compacting = self.loop.call_later(COMPACT_AFTER, self._compact)

    def _compact(self) -> None:
        """The journal's compaction, put off while jobs were due (a whole save of every job)."""
        self._compacting = None
        if self._in_batch:  # another batch began: after it
            return
        self._dirty = True
        self._request_save()

    def _end_batch(self) -> None:
        if self._in_batch:
            self._in_batch, self._breath = False, 0.0
            self._activity.exit(self._busy.running)

    def _start(self, fire: Fire) -> None:
        """Start one fire of a batch, re-checked now: an earlier job may have changed everything."""
        self.hooks.drain()  # `fired` callbacks run as the run starts, not after it
        job = fire.job
        if not self.started:
            why: str | None = "the extension was reloaded by an earlier job of the same batch"
        elif self.ending:
            why = "the kernel is restarting or shutting down"
        else:
            blocked = self.core.blocked(job)
            why = None if blocked is None else f"{blocked} by an earlier job of the same batch"
        if why is not None:
            self._close(job, occurrence=fire.occurrence, reason=f"not run: {why}")
        elif self.runner.is_async(job):
            self._spawn(job, fire.occurrence, fire.trigger)
        else:
            self._run_sync(job, fire.occurrence, fire.trigger)

    def _attempt(self, job: CronJob, occurrence: datetime | None, trigger: str, entered: list[bool]) -> Attempt:
        """The runner's order; ``entered`` records that the code started (the kernel shows activity)."""

        def on_start() -> None:
            entered.append(True)
            self._activity.enter(self._busy.running)

        return Attempt(job, occurrence, trigger, self.core.timeout_of(job), on_start)

    def _run_sync(self, job: CronJob, occurrence: datetime | None, trigger: str) -> None:
        entered: list[bool] = []
        try:
            run = self.runner.run_sync(self._attempt(job, occurrence, trigger, entered))
        except BaseException as e:  # the runner never raises; if it ever does, the job must not stay running
            run = _failed(
                self.core.clock.now(), f"loopal_ipy could not run the job: {type(e).__name__}: {e}", occurrence, trigger
            )
        finally:
            if entered:
                self._activity.exit(self._busy.running)
        self._close(job, run)

    def _spawn(self, job: CronJob, occurrence: datetime | None, trigger: str) -> asyncio.Task[Any]:
        entered: list[bool] = []
        task = self.loop.create_task(self.runner.run_async(self._attempt(job, occurrence, trigger, entered)))
        self._tasks[task] = job

        def done(t: asyncio.Task[Run]) -> None:
            self._tasks.pop(t, None)
            if entered:
                self._activity.exit(self._busy.running)
            if t.cancelled():
                run = _failed(self.core.clock.now(), "the job's task was cancelled", occurrence, trigger)
            elif t.exception() is not None:
                run = _failed(
                    self.core.clock.now(), f"loopal_ipy could not run the job: {t.exception()!r}", occurrence, trigger
                )
            else:
                run = t.result()
            self._close(job, run)

        task.add_done_callback(done)
        return task

    def _close(
        self, job: CronJob, run: Run | None = None, *, occurrence: datetime | None = None, reason: str = ""
    ) -> None:
        """End a fire exactly once, in the scheduler that owns the job now (a reload or switch may have happened)."""
        if run is not None and run.stopped == "interrupted" and self.started and self.loop.is_running():
            # A restart's interrupt, or a person's? The shutdown request tells, if it comes.
            self._stopping[job.id] = (job, run, self.loop.call_later(INTERRUPT_GRACE, self._verdict, job.id))
            if self.ending:
                self._settle_stopping()
            return
        try:
            with self._lock:
                self._close_locked(job, run, occurrence, reason)
        except Exception as e:  # a stored value no check foresaw, a bug of ours: this job's error, no other's
            self._fault(job, e)
        if run is not None and run.stopped == "terminated":
            self._end_by_sigterm()

    def _close_locked(self, job: CronJob, run: Run | None, occurrence: datetime | None, reason: str) -> None:
        owner = self if self.started else self.successor()
        if owner is None:
            self.core.let_go(job)
            return
        target = owner.core.live(job.id)
        if target is None:
            if owner is not self:  # deleted since: nothing left to record it on over there
                owner.core.let_go(job)
                return
            target = job  # deleted by its own run or meanwhile: the log of the removed job keeps it
        if target is not job:
            owner.core.let_go(job)  # the old object of a job that came back (session switch, reload)
        if run is None:
            owner.core.abandon(target, occurrence, reason)
        else:
            owner.core.finish(target, run)
            if run.stopped == "interrupted" and owner.core.live(target.id) is target:
                owner.core.pause(target.id, "interrupted (Kernel → Interrupt) while it ran")
        owner._arm()

    def _fault(self, job: CronJob, e: Exception) -> None:
        """Close a fire that raised inside loopal_ipy: recorded against its job, which is not left running."""
        with self._lock:
            target = self.core.live(job.id) or job
            self.core.fault(target, f"loopal_ipy could not record this run: {type(e).__name__}: {e}")
        self._arm()

    # ------------------------------------------------ restart, shutdown, SIGTERM
    def _on_exit_now(self, change: dict[str, Any]) -> None:
        """The kernel is going away (a shutdown request, on the control thread): runs held after an
        interrupt were ended by it, and are closed as such while the loop still runs."""
        if change.get("new"):
            self.ending = True
            self.loop.call_soon_threadsafe(self._settle_stopping)

    def _take_stopping(self) -> list[tuple[CronJob, Run, asyncio.TimerHandle]]:
        held, self._stopping = list(self._stopping.values()), {}
        return held

    def _settle_stopping(self) -> None:
        """Close every held run now: as ended by the restart if the kernel is ending, else as interrupted."""
        for job, run, handle in self._take_stopping():
            handle.cancel()
            self._decide(job, run)

    def decide_due_verdicts(self) -> None:
        """Decide the held runs whose grace has passed (a blocking %cron wait holds the loop, so their timers
        cannot fire: it calls this between its looks)."""
        now = self.loop.time()
        for job_id, (_job, _run, handle) in list(self._stopping.items()):
            if handle.when() <= now:
                self._verdict(job_id)

    def _verdict(self, job_id: str) -> None:
        """The grace after an interrupt passed: no shutdown request came (a person's Interrupt), unless it
        came just now."""
        held = self._stopping.pop(job_id, None)
        if held is not None:
            held[2].cancel()
            self._decide(held[0], held[1])

    def _decide(self, job: CronJob, run: Run) -> None:
        with self._lock:
            self._close_locked(job, ended_by_restart(run) if self.ending else run, None, "")

    def _end_by_sigterm(self) -> None:
        """A SIGTERM stopped job or hook code: settle the store, then end as SIGTERM would have."""
        self.at_exit()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)

    # --------------------------------------------------------------- events
    def _on_event(self, event: Event) -> None:
        if event.kind in PERSISTED:
            job = self.find(event.job_id)
            if job is not None and event.kind in STATE_ONLY:
                if job.durable:
                    self._touched.add(job.id)
            elif job is None or job.durable:
                self._dirty = True
        if event.kind in WAKE_WAITERS:
            for fut in self._waiters:  # a waiting cell looks again
                if not fut.done():
                    fut.set_result(None)
            self._waiters.clear()
        if event.kind in SAVE_SOON:
            self._request_save()  # a durable run's end ("not running") reaches the disk soon
        if event.kind in REARM:
            self._arm()
        if event.kind in GONE:
            self.runner.forget(event.job_id)  # its compiled code and source lines: memory stays bounded
        self.hooks.dispatch(event)

    def _soon(self, call: Callable[[], None]) -> None:
        """After the current step, on the loop (at once when no loop runs: a test, or exit)."""
        if self.off_loop():
            self.loop.call_soon_threadsafe(call)
        elif self.started and self.loop.is_running():
            self.loop.call_soon(call)
        else:
            call()

    # ---------------------------------------------------------- keep_alive
    def beat(self) -> None:
        """A table's pulse: a page shows this kernel (any thread)."""
        if self.shown.beat():
            self.call_soon(self._back_for_page)

    @property
    def held_for_page(self) -> bool:
        """No page has shown this kernel for a while (Cron.keep_alive = "while-shown"): jobs are held."""
        return self.shown.held

    def _hold_for_page(self) -> None:
        if not self.shown.held:
            self.shown.held = True
            self.core.emit(
                Kind.STORE,
                "-",
                f"no page has shown this kernel for {GRACE:g} s (Cron.keep_alive = 'while-shown'): "
                "its jobs are held until one does, and its culler may end it",
            )

    def _back_for_page(self) -> None:
        with self._lock:
            skipped = self.core.skip_missed("no page showed this kernel (Cron.keep_alive = 'while-shown')")
        self.core.emit(Kind.STORE, "-", f"a page shows this kernel again: jobs go on ({skipped} fires skipped)")
        self._arm()

    def displaying_cell(self) -> tuple[str | None, str | None]:
        """(which cell, which run of it) is executing: a table shown again by the same cell replaces
        the tables its earlier runs showed."""
        return displaying_cell(self.shell)

    def at_cell_end(self, callback: Callable[[], None]) -> Callable[[], None]:
        """``callback()`` whenever the main shell's cells have all ended, before their reply goes out;
        the returned call stops it."""
        self._at_cell_end.append(callback)
        return lambda: self._at_cell_end.remove(callback) if callback in self._at_cell_end else None


def _failed(at: datetime, error: str, occurrence: datetime | None, trigger: str) -> Run:
    return Run(started_at=at, status="error", output=error, error=error, occurrence=occurrence, trigger=trigger)
