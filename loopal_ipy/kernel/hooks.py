"""Hooks (docs/alerts.md, "Hooks"): ``get_scheduler().on("failed", callback)`` and friends.

A callback runs soon after the event, on the kernel's loop, outside any job's
run and outside the scheduler's own bookkeeping, so a slow webhook cannot hold
a decision half-made; ``fired`` callbacks run before the run's code starts.

A callback is hostile input, guarded like a job's code: what it writes, at
fd level too (``os.system``, a ``curl`` child), goes to the hooks' own log
(``get_scheduler().hooks.log``), never into a cell; *Kernel → Interrupt* stops
it, and so does ``Cron.hook_timeout``. Whatever it raises (``sys.exit()``,
``KeyboardInterrupt``, any ``BaseException``) is logged there with its
traceback, and in the table's footer, and it is unsubscribed after its third
error; the scheduler never sees the exception.
"""

from __future__ import annotations

import contextlib
import traceback
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.events import Event, Kind
from ..core.job import CronJob, Run
from . import capture
from .stopper import JobInterrupted, JobTerminated, JobTimedOut

Guard = Callable[[capture.Buffer, float], AbstractContextManager[object]]  # the runner's: captured and stoppable

# hook name -> the scheduler events it stands for ("failed" is a "finished" whose run failed)
HOOK_EVENTS = {
    "fired": Kind.FIRED,
    "finished": Kind.FINISHED,
    "failed": Kind.FINISHED,
    "skipped": Kind.SKIPPED,
    "expired": Kind.EXPIRED,
    "missed": Kind.MISSED,
    "retrying": Kind.RETRYING,
}
MAX_ERRORS = 3
LOG_LINES = 200


@dataclass(frozen=True, slots=True)
class HookEvent:
    """What a callback is given."""

    name: str  # the hook: fired, finished, failed, skipped, expired or missed
    job_id: str
    job: CronJob | None  # None once nothing remembers the job
    at: datetime
    message: str
    run: Run | None = None  # for finished and failed: the run that ended
    retrying: bool = False  # for finished: it failed and will be tried again (--retries); failed comes later

    @property
    def error(self) -> str | None:
        """The failed run's error (its traceback), if any."""
        return self.run.error if self.run is not None else None


@dataclass(eq=False)
class _Hook:
    name: str
    callback: Callable[[HookEvent], Any]
    errors: list[str] = field(default_factory=list)
    trusted: bool = False  # loopal_ipy's own (the alerts): cannot block, so no guard to set up per call


class Tail(list[str]):
    """A list that keeps its last ``limit`` items: sliceable (``log[-2:]``), unlike a deque."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def append(self, item: str) -> None:
        super().append(item)
        if len(self) > self.limit:
            del self[: len(self) - self.limit]


def _unguarded(buf: capture.Buffer, timeout: float) -> AbstractContextManager[capture.Buffer]:
    return capture.capturing(buf)


class Hooks:
    """The callbacks of one kernel scheduler."""

    def __init__(
        self,
        find: Callable[[str], CronJob | None],
        soon: Callable[[Callable[[], None]], None],
        note: Callable[[str, str], object],  # what it returns is not used
        guard: Guard = _unguarded,
        timeout: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._find, self._soon, self._note = find, soon, note
        self._guard, self._timeout = guard, timeout
        self._hooks: list[_Hook] = []
        self._pending: deque[tuple[_Hook, HookEvent]] = deque()
        self._drain_asked = False
        self.log: Tail = Tail(LOG_LINES)  # what callbacks printed, and their tracebacks
        self.on_sigterm: Callable[[], None] = lambda: None  # a SIGTERM cut a callback short: the kernel ends
        self.terminating: Callable[[], bool] = lambda: False  # a SIGTERM came while a callback ran

    def on(self, name: str, callback: Callable[[HookEvent], Any], *, trusted: bool = False) -> Callable[[], None]:
        """Call ``callback(HookEvent)`` after each ``name`` event; returns the function that unsubscribes it.

        ``trusted``: for loopal_ipy's own callbacks only (they neither block nor print); they run without
        the capture and the stopping guard a user's callback gets, which cost ~0.1 ms a call."""
        if name not in HOOK_EVENTS:
            raise ValueError(f"no hook {name!r}; hooks are: {', '.join(HOOK_EVENTS)}")
        if not callable(callback):
            raise TypeError(f"the callback must be callable, got {type(callback).__name__}")
        hook = _Hook(name, callback, trusted=trusted)
        self._hooks.append(hook)
        return lambda: self._drop(hook)

    def __len__(self) -> int:
        """The user's callbacks (loopal_ipy's own are not counted)."""
        return sum(not hook.trusted for hook in self._hooks)

    def _drop(self, hook: _Hook) -> None:
        if hook in self._hooks:
            self._hooks.remove(hook)

    def dispatch(self, event: Event) -> None:
        """Called for every scheduler event: queue the matching callbacks (cheap when there are none)."""
        hooks = [hook for hook in self._hooks if HOOK_EVENTS[hook.name] == event.kind]
        if not hooks:
            return  # most events (started, created, ...) have none: no lookup on the firing path
        job = self._find(event.job_id)
        run = job.history[-1] if job is not None and event.kind == Kind.FINISHED and job.history else None
        retrying = job is not None and job.retry_at is not None
        for hook in hooks:
            if hook.name == "failed" and (run is None or run.status != "error" or retrying):
                continue  # once per occurrence: after its last attempt
            given = HookEvent(hook.name, event.job_id, job, event.at, event.message, run, retrying)
            self._pending.append((hook, given))
        if not self._drain_asked:
            self._drain_asked = True
            self._soon(self._drain_later)

    def _drain_later(self) -> None:
        self._drain_asked = False
        self.drain()

    def drain(self) -> None:
        """Call what is queued now (the bridge calls this before a run starts, so ``fired`` comes first).

        Calls queued by these callbacks wait for the next turn of the loop: a hook that runs a job
        whose end calls it again cannot hold the kernel in one endless step.
        """
        for _ in range(len(self._pending)):
            if not self._pending:
                break
            hook, given = self._pending.popleft()
            self._call(hook, given)
        if self._pending and not self._drain_asked:
            self._drain_asked = True
            self._soon(self._drain_later)

    def _call(self, hook: _Hook, given: HookEvent) -> None:
        if hook not in self._hooks:
            return  # unsubscribed meanwhile
        if hook.trusted:
            try:
                hook.callback(given)
            except Exception as e:  # still never the scheduler's problem
                self._failed(hook, given, e, 0.0)
            return
        buf = capture.Buffer(10_000)
        limit = self._timeout()
        try:
            with capture.capturing(buf):
                try:
                    with self._guard(buf, limit):
                        hook.callback(given)
                except BaseException as e:  # SystemExit and KeyboardInterrupt too: a hook cannot end the kernel
                    self._failed(hook, given, e, limit)
        finally:
            buf.closed = True
        if self.terminating():  # even when the callback swallowed it
            self.on_sigterm()
        text = buf.text()
        if text:
            self.log.append(f"{given.at:%H:%M:%S} hook {hook.name} ({_name(hook.callback)}) printed: {text.rstrip()}")

    def _failed(self, hook: _Hook, given: HookEvent, e: BaseException, limit: float) -> None:
        if isinstance(e, JobTimedOut):
            why = f"timed out after {limit:g} s (Cron.hook_timeout) and was abandoned"
        elif isinstance(e, JobInterrupted):
            why = "was interrupted (Kernel → Interrupt)"
        elif isinstance(e, JobTerminated):
            why = "was ended by SIGTERM (the kernel was told to stop)"
        else:
            why = f"raised {type(e).__name__}: {str(e)[:200]}"
        hook.errors.append(why)
        said = f"hook {hook.name} ({_name(hook.callback)}) {why}"
        if len(hook.errors) >= MAX_ERRORS:
            self._drop(hook)
            said += f"; unsubscribed after {MAX_ERRORS} errors"
        self._note(given.job_id, said)
        try:
            trace = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        except Exception:  # a traceback that cannot be formatted still leaves its line
            trace = f"{type(e).__name__}\n"
        self.log.append(f"{given.at:%H:%M:%S} {said}\n{trace}")
        with contextlib.suppress(Exception):
            traceback.clear_frames(e.__traceback__)


def _name(callback: Any) -> str:
    return getattr(callback, "__qualname__", None) or type(callback).__name__
