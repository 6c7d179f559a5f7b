"""Stopping job code that will not stop (docs/running.md): *Kernel → Interrupt*, timeouts, SIGTERM.

ipykernel ignores SIGINT outside execute requests, so a job that spins would
take the kernel for good. While job code runs (a sync run, or one step of an
async run), a SIGINT handler of ours raises ``JobInterrupted`` — or
``JobTimedOut`` once the run's time is up — into that code, on the main thread.
Whether an interrupt was a person's or the first step of a restart is the
bridge's call (a shutdown request follows a restart's). A SIGTERM (the kernel
told to end) raises ``JobTerminated`` instead, so the run can be recorded as
ended by it before the process ends as SIGTERM would have ended it.

Timeouts use no timer signal of their own (a job's ``signal.alarm`` would cancel
it): a watchdog thread sends SIGINT to the main thread when a deadline passes.
Code that swallows the exception (``except BaseException: pass`` in a loop) is
kicked again every second, and from the second kick on a trace function raises
at every line of the job's own frames, so even a handler's body raises, and the
exception leaves the loop. A C call that never returns to Python still cannot be
stopped: Python raises only when control comes back to it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from types import FrameType
from typing import Any

_SUPPORTED = all(hasattr(signal, n) for n in ("pthread_kill", "pthread_sigmask", "sigtimedwait"))
KICK_AGAIN = 1.0  # seconds: how long a kicked run may ignore the exception before the next, harder kick
_OURS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the whole package
_SKIP = (_OURS, os.path.dirname(contextlib.__file__) + os.sep + "contextlib.py")


class JobInterrupted(BaseException):
    """Raised into a job's code by *Kernel → Interrupt*."""


class JobTimedOut(BaseException):
    """Raised into a job's code when its timeout passes."""


class JobTerminated(BaseException):
    """Raised into a job's code by a SIGTERM: the kernel is being ended."""


class _Guard:
    __slots__ = ("deadline", "expired")

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.expired = False


def _noop(signum: int, frame: Any) -> None:
    pass


_STOPPERS: weakref.WeakSet[Stopper] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for stopper in list(_STOPPERS):
        stopper._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Stopper:
    """Makes job code stoppable; one per runner, used only from the main thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._guards: list[_Guard] = []  # active guards, innermost last (a job may %cron run another)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._kicked = False  # the watchdog sent a SIGINT during the current outermost guard
        self._interrupted_at: float | None = None
        self._hits = 0  # exceptions raised into the current outermost guard
        self._saved: Any = None
        self._saved_term: Any = None  # SIGTERM's handler outside the guard, when ours replaced SIG_DFL
        self.terminating = False  # a SIGTERM came while job code ran: whoever ran it ends the process
        self._trace: Any = None
        self._main = threading.main_thread()
        _STOPPERS.add(self)

    def _forked(self) -> None:
        """In a child forked by job code (a fork Pool): its signals are its own again. Our handlers would
        raise into the child's copy of the job, which then runs the kernel's code (saving its store) and
        never exits; Pool.terminate() waits on such a child for ever."""
        self._closed = True
        self._guards.clear()
        if self._saved is not None:
            signal.signal(signal.SIGINT, self._saved)
        if self._saved_term is not None:
            signal.signal(signal.SIGTERM, self._saved_term)
        self._saved = self._saved_term = None

    # ------------------------------------------------------------ the guard
    @contextlib.contextmanager
    def guard(self, timeout: float = 0.0) -> Iterator[None]:
        """Job code inside this block can be interrupted, and timed out after ``timeout`` s (0: never)."""
        if threading.current_thread() is not self._main or self._closed or not _SUPPORTED:
            yield
            return
        g = _Guard(time.monotonic() + timeout if timeout > 0 else None)
        outermost = not self._guards
        if outermost:
            self._hits, self._kicked, self._interrupted_at, self.terminating = 0, False, None, False
            saved = signal.signal(signal.SIGINT, self._on_sigint)
            self._saved = signal.SIG_IGN if saved is None else saved  # None: set outside Python; kernels ignore it
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # an ignored or handled SIGTERM stays so
                self._saved_term = signal.signal(signal.SIGTERM, self._on_sigterm)
        if g.deadline is None:
            self._guards.append(g)  # the watchdog copies the list: no lock needed for a guard it ignores
        else:
            with self._cond:
                self._guards.append(g)
                self._ensure_watchdog()
                self._cond.notify()
        try:
            yield
        finally:
            for _ in range(100):  # a SIGINT landing in here raises again: finish the exit all the same
                try:
                    if g in self._guards:
                        if g.deadline is None and self._interrupted_at is None:
                            self._guards.remove(g)  # nothing can kick this one: no lock needed
                        else:
                            with self._cond:  # after this no kick of ours can start
                                self._guards.remove(g)
                    if outermost:
                        self._leave()
                    break
                except (JobInterrupted, JobTimedOut, JobTerminated):
                    continue

    def _leave(self) -> None:
        """Hand SIGINT back, with no kick of ours still pending for whoever gets it next."""
        if self._saved is not None:
            if self._kicked:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                with contextlib.suppress(OSError):
                    while signal.sigtimedwait({signal.SIGINT}, 0) is not None:
                        pass
                signal.signal(signal.SIGINT, _noop)
                for _ in range(3):  # bytecode boundaries: a kick already caught runs _noop here
                    pass
            self._untrace()
            signal.signal(signal.SIGINT, self._saved)
            self._saved = None
            if self._saved_term is not None:
                signal.signal(signal.SIGTERM, self._saved_term)
                self._saved_term = None
        if self._kicked:
            self._kicked = False
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    # ------------------------------------------------------------ raising
    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.terminating = True
        self._on_sigint(signum, frame)

    def _stop_with(self) -> type[BaseException]:
        if self.terminating:
            return JobTerminated
        return JobTimedOut if any(g.expired for g in self._guards) else JobInterrupted

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        exc = self._stop_with()
        if exc is not JobTimedOut and self._interrupted_at is None and self._guards:
            self._interrupted_at = time.monotonic()
            self._kick_later(self._guards[0])  # again, harder, if the code ignores this one
        self._hits += 1
        if self._hits >= 2 and self._guards:
            self._trace_hard(frame)
        raise exc

    def _trace_hard(self, frame: FrameType | None) -> None:
        """Raise at every line of the job's frames: a handler that swallows cannot keep the loop going."""
        exc = self._stop_with()

        def tracer(f: FrameType, event: str, arg: Any) -> Any:
            if f.f_code.co_filename.startswith(_SKIP):
                return None
            if event == "line":
                raise exc
            return tracer

        if self._trace is None:
            self._trace = (sys.gettrace(),)
        sys.settrace(tracer)
        f = frame  # the job's own frames: from where it was interrupted up to the runner that called it
        while f is not None and not f.f_code.co_filename.startswith(_SKIP):
            f.f_trace = tracer
            f = f.f_back

    def _untrace(self) -> None:
        if self._trace is not None:
            sys.settrace(self._trace[0])
            self._trace = None

    # ------------------------------------------------------------ watchdog
    def _kick_later(self, outer: _Guard) -> None:
        """After an interrupt: SIGINT again every KICK_AGAIN s while that same run goes on."""

        def kick() -> None:
            with self._cond:
                if not (self._guards and self._guards[0] is outer) or self._closed:
                    return
                self._kicked = True
                self._interrupt_main()
            self._kick_later(outer)

        timer = threading.Timer(KICK_AGAIN, kick)
        timer.daemon = True
        timer.start()

    def _interrupt_main(self) -> None:
        """SIGINT to the main thread, where job code runs (started: it has an ident)."""
        ident = self._main.ident
        assert ident is not None
        signal.pthread_kill(ident, signal.SIGINT)

    def _ensure_watchdog(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._watch, name="loopal_ipy-watchdog", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._guards:
                    self._cond.wait()
                    continue
                now = time.monotonic()
                guards = list(self._guards)
                due = [g.deadline for g in guards if g.deadline is not None]
                if not due:
                    self._cond.wait()
                    continue
                first = min(due)
                if first > now:
                    self._cond.wait(first - now)
                    continue
                for g in guards:
                    if g.deadline is not None and g.deadline <= now:
                        g.expired = True
                        g.deadline = now + KICK_AGAIN  # kicked again, harder, if the code ignores it
                self._kicked = True
                self._interrupt_main()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
