"""Hooks (SPEC §11): ``get_scheduler().on("failed", callback)`` and friends.

A callback runs soon after the event, on the kernel's loop, outside any job's
run and outside the scheduler's own bookkeeping, so a slow webhook cannot hold
a decision half-made. What it prints goes to the hooks' own log
(``get_scheduler().hooks.log``), never into a cell (the kernel's stderr would not
do: ipykernel forwards fd 2 to whatever cell ran last). A callback that raises
is logged there, with its traceback, and in the table's footer, and is
unsubscribed after its third error; the scheduler never sees the exception.
"""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import capture
from .events import Event, Kind
from .job import CronJob, Run

# hook name -> the scheduler events it stands for ("failed" is a "finished" whose run failed)
HOOK_EVENTS = {
    "fired": Kind.FIRED,
    "finished": Kind.FINISHED,
    "failed": Kind.FINISHED,
    "skipped": Kind.SKIPPED,
    "expired": Kind.EXPIRED,
    "missed": Kind.MISSED,
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

    @property
    def error(self) -> str | None:
        """The failed run's error (its traceback), if any."""
        return self.run.error if self.run is not None else None


@dataclass(eq=False)
class _Hook:
    name: str
    callback: Callable[[HookEvent], Any]
    errors: list[str] = field(default_factory=list)


class Hooks:
    """The callbacks of one kernel scheduler."""

    def __init__(
        self,
        find: Callable[[str], CronJob | None],
        soon: Callable[[Callable[[], None]], None],
        note: Callable[[str, str], None],
    ) -> None:
        self._find, self._soon, self._note = find, soon, note
        self._hooks: list[_Hook] = []
        self.log: deque[str] = deque(maxlen=LOG_LINES)  # what callbacks printed, and their tracebacks

    def on(self, name: str, callback: Callable[[HookEvent], Any]) -> Callable[[], None]:
        """Call ``callback(HookEvent)`` after each ``name`` event; returns the function that unsubscribes it."""
        if name not in HOOK_EVENTS:
            raise ValueError(f"no hook {name!r}; hooks are: {', '.join(HOOK_EVENTS)}")
        if not callable(callback):
            raise TypeError(f"the callback must be callable, got {type(callback).__name__}")
        hook = _Hook(name, callback)
        self._hooks.append(hook)
        return lambda: self._drop(hook)

    def __len__(self) -> int:
        return len(self._hooks)

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
        for hook in hooks:
            if hook.name == "failed" and (run is None or run.status != "error"):
                continue
            given = HookEvent(hook.name, event.job_id, job, event.at, event.message, run)
            self._soon(lambda hook=hook, given=given: self._call(hook, given))

    def _call(self, hook: _Hook, given: HookEvent) -> None:
        if hook not in self._hooks:
            return  # unsubscribed meanwhile
        buf = capture.Buffer(10_000)
        try:
            with capture.capturing(buf):
                hook.callback(given)
        except Exception as e:
            hook.errors.append(f"{type(e).__name__}: {e}")
            said = f"hook {hook.name} ({_name(hook.callback)}) raised {type(e).__name__}: {str(e)[:200]}"
            if len(hook.errors) >= MAX_ERRORS:
                self._drop(hook)
                said += f"; unsubscribed after {MAX_ERRORS} errors"
            self._note(given.job_id, said)
            self.log.append(f"{given.at:%H:%M:%S} {said}\n{traceback.format_exc()}")
        finally:
            buf.closed = True
        text = buf.text()
        if text:
            self.log.append(f"{given.at:%H:%M:%S} hook {hook.name} ({_name(hook.callback)}) printed: {text.rstrip()}")


def _name(callback: Any) -> str:
    return getattr(callback, "__qualname__", None) or type(callback).__name__
