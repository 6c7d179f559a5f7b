"""Run one job's code in the user namespace, capture what it writes, stop it when told (docs/running.md).

The runner never raises into its caller: whatever the code does (raise,
``sys.exit()``, spin forever until *Interrupt* or its timeout) ends as a
``Run`` in the job's history. Where output goes is ``capture.py``'s business,
how stuck code is stopped ``stopper.py``'s. An async job is driven one step (from
one ``await`` to the next) at a time, each step stoppable and captured like a
sync run, so spinning between two awaits cannot take the kernel either.
"""

from __future__ import annotations
import __future__

import ast
import asyncio
import contextlib
import inspect
import linecache
import math
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from types import CodeType
from typing import Any

from ..core.clock import Clock
from ..core.figures import MAX_IMAGES, JobFigures
from ..core.job import CronJob, Run
from . import capture
from .exits import Exits, JobExit, system_exit
from .nested import Nested
from .stopper import JobInterrupted, JobTerminated, JobTimedOut, Stopper

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_CO_COROUTINE = inspect.CO_COROUTINE
_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


@dataclass(frozen=True, slots=True)
class Prepared:
    """A job's code compiled once: the body, and the last expression (shown like Out)."""

    body: CodeType
    last: CodeType | None
    is_async: bool


def _nothing() -> None:
    pass


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run to make: the job, the occurrence it is for, why, its time limit (0: none), and
    ``on_start``, called just before the code starts."""

    job: CronJob
    occurrence: datetime | None
    trigger: str = "schedule"
    timeout: float = 0.0
    on_start: Callable[[], None] = _nothing

    def fields(self) -> tuple[CronJob, datetime | None, str, float, Callable[[], None]]:
        return self.job, self.occurrence, self.trigger, self.timeout, self.on_start


class _Stepped:
    """Await a job's coroutine one step at a time, each step run like a sync job (captured, stoppable)."""

    def __init__(self, coro: Any, runner: Runner, buf: capture.Buffer, figs: JobFigures, end: float | None) -> None:
        self.coro, self.runner, self.buf, self.figs, self.end = coro, runner, buf, figs, end

    def __await__(self) -> Any:
        coro, value, error = self.coro, None, None
        while True:
            left = 0.0 if self.end is None else max(1e-3, self.end - time.monotonic())
            try:
                with self.runner._step(self.buf, left, self.figs):
                    yielded = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as e:
                return e.value
            value, error = None, None
            try:
                value = yield yielded
            except BaseException as e:  # a cancel (or close) thrown in by the task: hand it to the code
                error = e


class Runner:
    """Runs job code on the kernel's main thread; never raises into the caller."""

    def __init__(self, shell: Any, clock: Clock, output_limit: int = 10_000) -> None:
        self.shell = shell
        self.clock = clock
        self.output_limit = output_limit
        self._cache: dict[str, tuple[str, Prepared]] = {}  # job id -> (its code, compiled): one entry a job
        self.routing = capture.Routing(shell)
        self.stopper = Stopper()
        self.exits = Exits(shell, self.in_job)
        self.nested = Nested(shell)
        self.live: dict[str, tuple[datetime, capture.Buffer]] = {}  # job id -> its run going now
        self.watched: Counter[str] = Counter()  # job id -> its live views: their runs' values are formatted

    def output_so_far(self, job_id: str) -> tuple[datetime, str] | None:
        """When the job's current run started and what it wrote so far (its last output_limit characters)."""
        got = self.live.get(job_id)
        return None if got is None else (got[0], got[1].text())

    def watch(self, job_id: str) -> Callable[[], None]:
        """A live view of the job exists until the returned call: its runs' last values are formatted as
        ``Out`` formats them (a DataFrame's table). Other jobs' values are only repr'd: formatting every
        value would cost every fire (docs/live.md)."""
        self.watched[job_id] += 1

        def unwatch() -> None:
            self.watched[job_id] -= 1
            if self.watched[job_id] <= 0:
                del self.watched[job_id]

        return unwatch

    def install(self) -> None:
        """Route output of jobs to their logs, and keep them from ending the kernel (idempotent)."""
        self.routing.install()
        self.exits.install()
        self.nested.install()

    def uninstall(self) -> None:
        self.nested.uninstall()
        self.exits.uninstall()
        self.routing.uninstall()
        self.stopper.close()

    @contextlib.contextmanager
    def _step(self, buf: capture.Buffer, timeout: float, figs: JobFigures) -> Iterator[None]:
        """Job code runs in here: fd 1/2, sys.stdout/err and pyplot are the job's, and it can be stopped."""
        with self.routing.fd.around(buf), self.routing.job_streams(), figs.around(), self.stopper.guard(timeout):
            yield

    @contextlib.contextmanager
    def guarded(self, buf: capture.Buffer, timeout: float) -> Iterator[None]:
        """Code that is not a job's but is as hostile (a hook): its output, fd level too, to ``buf``;
        stoppable by *Interrupt* and after ``timeout`` s (0: never)."""
        with self.routing.fd.around(buf), self.routing.job_streams(), self.stopper.guard(timeout):
            yield

    def after_run(self, job_id: str) -> str:
        """What the job's child processes wrote after its runs ended (kept apart, never in another log)."""
        return self.routing.fd.lingering.read(job_id)

    def forget(self, job_id: str) -> None:
        """The job left: its compiled code and source lines go (a job that comes back compiles again)."""
        self._cache.pop(job_id, None)
        linecache.cache.pop(f"<cron {job_id}>", None)

    @staticmethod
    def in_job() -> bool:
        """True while job code runs in the current context (a sync run, or an async job's task)."""
        return capture.current() is not None

    # ------------------------------------------------------------ compile
    def prepare(self, job: CronJob) -> Prepared:
        hit = self._cache.get(job.id)
        if hit is not None and hit[0] == job.code:
            return hit[1]
        filename = f"<cron {job.id}>"
        source = self.shell.transform_cell(job.code) if self.shell is not None else job.code
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)  # tracebacks show source
        tree = ast.parse(source, filename)
        # Compiled as the shell compiles a cell: its __future__ flags (a cell's `from __future__
        # import annotations` counts), never this module's own (dont_inherit).
        flags = _FLAGS | (getattr(getattr(self.shell, "compile", None), "flags", 0) & _FUTURE_FLAGS)
        last = None
        tail = tree.body[-1] if tree.body else None
        if isinstance(tail, ast.Expr):
            tree.body.pop()
            last = compile(ast.Expression(tail.value), filename, "eval", flags=flags, dont_inherit=True)
        body = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
        is_async = bool(body.co_flags & _CO_COROUTINE) or bool(last and last.co_flags & _CO_COROUTINE)
        prepared = Prepared(body, last, is_async)
        self._cache[job.id] = (job.code, prepared)
        return prepared

    def is_async(self, job: CronJob) -> bool:
        """Whether the code awaits; code that cannot even be prepared runs (and fails) as sync."""
        try:
            return self.prepare(job).is_async
        except Exception:  # SyntaxError, RecursionError, MemoryError...: run_sync records it
            return False

    def _show(self, buf: capture.Buffer, value: Any) -> None:
        """The last expression, as a cell shows ``Out``: its repr in the log, its rich data in a view (only
        while the job has one: see ``watch``)."""
        if value is None:
            return
        data: dict[str, Any] = {}
        metadata: Any = None
        formatter = getattr(self.shell, "display_formatter", None)
        # A _repr_html_ that raises: its traceback is shown and the run goes on (nested.py).
        if formatter is not None and buf.owner in self.watched:
            formatted = formatter.format(value)
            if isinstance(formatted, tuple) and len(formatted) == 2:
                data, metadata = dict(formatted[0]), formatted[1]
        data["text/plain"] = repr(value)  # the log's line, as before: the value's repr
        buf.display(data, metadata=metadata)

    # ---------------------------------------------------------------- run
    def run_sync(self, attempt: Attempt) -> Run:
        """Run synchronous code now; the output goes to the job's log only."""
        job, occurrence, trigger, timeout, on_start = attempt.fields()
        started, t0 = self.clock.now(), time.perf_counter()
        buf = capture.Buffer(self.output_limit, job.id)
        figs = JobFigures()
        error, stopped = None, None
        self.live[job.id] = (started, buf)
        try:
            with capture.capturing(buf):  # still the run's while its error is taken apart
                try:
                    with self._step(buf, timeout, figs):
                        on_start()
                        started, t0 = self.clock.now(), time.perf_counter()  # the code starts now, guarded
                        prep = self.prepare(job)
                        ns = self.shell.user_ns
                        exec(prep.body, ns)
                        if prep.last is not None:
                            self._show(buf, eval(prep.last, ns))
                except JobInterrupted as e:
                    stopped, error = "interrupted", _interrupted(job, t0)
                    _release(e)
                except JobTimedOut as e:
                    stopped, error = "timeout", f"timed out after {timeout:g} s"
                    _release(e)
                except JobTerminated as e:
                    stopped, error = "terminated", _terminated(t0)
                    _release(e)
                except BaseException as e:
                    error = _error_of(e)
                    _release(e)
        finally:
            self.live.pop(job.id, None)
        return self._run(started, t0, buf, figs, error, occurrence, trigger, stopped)

    async def run_async(self, attempt: Attempt) -> Run:
        """Run code that awaits, as a task on the kernel's loop; a timeout cancels it.

        Each step of the code (from one ``await`` to the next) runs stoppable like a
        sync run, so a job that spins between awaits cannot take the kernel either.
        """
        job, occurrence, trigger, timeout, on_start = attempt.fields()
        on_start()
        started, t0 = self.clock.now(), time.perf_counter()
        buf = capture.Buffer(self.output_limit, job.id)
        capture.set_for_task(buf)  # this task's own context: cells running meanwhile are unaffected
        figs = JobFigures()
        self.live[job.id] = (started, buf)
        error, stopped = None, None
        task = asyncio.current_task()
        expired: list[bool] = []
        handle = None
        if timeout > 0 and math.isfinite(timeout) and task is not None:

            def expire() -> None:
                expired.append(True)
                task.cancel()

            handle = asyncio.get_running_loop().call_later(timeout, expire)
        end = time.monotonic() + timeout if timeout > 0 and math.isfinite(timeout) else None
        try:
            await self._evaluate(job, buf, figs, end)
        except JobInterrupted:
            stopped, error = "interrupted", _interrupted(job, t0)
        except JobTimedOut:
            stopped, error = "timeout", f"timed out after {timeout:g} s"
        except JobTerminated:
            stopped, error = "terminated", _terminated(t0)
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError) and expired:
                stopped, error = "timeout", f"timed out after {timeout:g} s"
                if task is not None and hasattr(task, "uncancel"):  # (only a task expires)
                    task.uncancel()  # the cancel was ours and is handled: the task ends normally
            elif isinstance(e, asyncio.CancelledError):
                said = e.args[0] if e.args and isinstance(e.args[0], str) else "the job was cancelled"
                error = f"{type(e).__name__}: {said}"
            else:
                error = _error_of(e)
            _release(e)
        finally:
            if handle is not None:
                handle.cancel()
            capture.set_for_task(None)
            self.live.pop(job.id, None)
        return self._run(started, t0, buf, figs, error, occurrence, trigger, stopped)

    async def _evaluate(self, job: CronJob, buf: capture.Buffer, figs: JobFigures, end: float | None) -> None:
        """The job's code, each step stoppable, and its last expression shown, as a cell would."""
        prep = self.prepare(job)
        ns = self.shell.user_ns
        result = eval(prep.body, ns)
        if inspect.iscoroutine(result):
            await _Stepped(result, self, buf, figs, end)
        if prep.last is not None:
            with self._step(buf, 0.0 if end is None else max(1e-3, end - time.monotonic()), figs):
                value = eval(prep.last, ns)  # code too: `await f()` is a coroutine, `g()` runs here
            if inspect.iscoroutine(value):
                value = await _Stepped(value, self, buf, figs, end)
            with self._step(buf, 0.0 if end is None else max(1e-3, end - time.monotonic()), figs):
                self._show(buf, value)

    def _run(
        self,
        started: datetime,
        t0: float,
        buf: capture.Buffer,
        figs: JobFigures,
        error: str | None,
        occurrence: datetime | None,
        trigger: str,
        stopped: str | None,
    ) -> Run:
        if stopped is None and self.stopper.terminating:  # the code swallowed the SIGTERM: it still ends the kernel
            stopped, error = "terminated", error or _terminated(t0)
        figures = figs.pngs()
        images = [*buf.images, *figures]
        for png in figures:  # drawn after the code, as the inline backend draws a cell's figures
            buf.display({"image/png": png, "text/plain": "<Figure>"}, log=False)
        for note in figs.notes:
            buf.write(note + "\n", "stderr")
        output = buf.text()
        buf.closed = True
        if error is None and buf.nested_error is not None:
            error = buf.nested_error  # a nested run_cell or %run failed: so did the run (its text is in output)
            output = output.replace(error, "", 1) if error in output else output
        if error:
            output = f"{output}{error}" if output else error
        return Run(
            started_at=started,
            duration=time.perf_counter() - t0,
            status="error" if error else "ok",
            output=output,
            error=error.rstrip() if error else None,
            occurrence=occurrence,
            trigger=trigger,
            stopped=stopped,
            images=tuple(images[:MAX_IMAGES]),
            html=tuple(buf.html),
            shown=tuple(buf.shown),
        )


def _interrupted(job: CronJob, t0: float) -> str:
    return (
        f"interrupted (Kernel → Interrupt) after {time.perf_counter() - t0:.1f} s; "
        f"the job is paused — %cron resume {job.name or job.id} restarts it"
    )


def _terminated(t0: float) -> str:
    return (
        f"ended by SIGTERM after {time.perf_counter() - t0:.1f} s: the kernel was told to stop; "
        "the job stays active and runs again in the next kernel"
    )


def ended_by_restart(run: Run) -> Run:
    """An interrupted run whose interrupt was a restart's or shutdown's first step (docs/running.md): said so,
    and no pause follows."""
    said = (
        f"ended by the kernel's restart or shutdown after {run.duration:.1f} s (it sends an interrupt "
        "before its shutdown request); the job stays active"
    )
    output = run.output.removesuffix(run.error or "") + said
    return replace(run, output=output, error=said, stopped="restart")


def _release(e: BaseException) -> None:
    """Let go of what the failed code held (a coroutine passed to ``asyncio.run``, say) now, while
    the run's output is still captured: a "never awaited" warning is the run's, not the next cell's."""
    with contextlib.suppress(Exception):
        traceback.clear_frames(e.__traceback__)


def _error_of(e: BaseException) -> str:
    """A run's error: the traceback, or for a call that would have ended the kernel, what it was."""
    if isinstance(e, JobExit):
        return str(e)
    if isinstance(e, SystemExit):
        return system_exit(e)
    if isinstance(e, KeyboardInterrupt):
        return "KeyboardInterrupt raised by the job's code; the kernel keeps running"
    return _format_error(e)


def _format_error(e: BaseException) -> str:
    """The traceback from the job's own frames on (the runner's frame is noise)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in (__file__, contextlib.__file__):
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(e), e, tb))
    except Exception:  # a traceback that cannot even be formatted (RecursionError, MemoryError)
        return f"{type(e).__name__}: {str(e)[:500]}\n"
