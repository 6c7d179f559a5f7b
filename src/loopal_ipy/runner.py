"""Run one job's code in the user namespace and capture everything it prints (SPEC §4, §5).

Jobs fire outside any cell, so the kernel's ambient output parent is useless
(it is whichever cell scheduled the timer, or nothing after a restart). We
route instead: ``sys.stdout``/``sys.stderr`` and the display publisher are
wrapped once by proxies that send writes to the *current job's* buffer when a
ContextVar says a job is running, and pass everything else through untouched.
A ContextVar, not a global swap, because an async job's task interleaves with
the user's cells: each task carries its own value, so a cell that runs while a
job awaits still prints into its own output.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import linecache
import sys
import time
import traceback
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from types import CodeType
from typing import Any

from .job import CronJob, Run

_capture: ContextVar[_Buffer | None] = ContextVar("loopal_ipy_capture", default=None)
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_CO_COROUTINE = inspect.CO_COROUTINE


class _Buffer:
    """One run's output; stops growing past ``limit`` (the cut is reported by the core)."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit + 200  # a little over, so the core sees it was cut

    def write(self, text: str) -> None:
        if self.size < self.limit:
            self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        # Past the limit the core cuts to Cron.output_limit and says so in the log.
        return "".join(self.parts)[: self.limit]


class _RoutedStream:
    """Proxy for sys.stdout/stderr: job writes go to the job's buffer, the rest pass on."""

    def __init__(self, original: Any) -> None:
        self._loopal_original = original

    def write(self, text: str) -> int:
        buf = _capture.get()
        if buf is None:
            return self._loopal_original.write(text)
        buf.write(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _capture.get() is None:
            self._loopal_original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loopal_original, name)


def _routed_publish(original: Any) -> Any:
    def publish(data: Any = None, *args: Any, **kwargs: Any) -> Any:
        buf = _capture.get()
        # Updates of an existing display (handle.update) are aimed at a place the
        # user chose, so they go out; new displays from a job go to its log.
        if buf is None or kwargs.get("update"):
            return original(data, *args, **kwargs)
        plain = (data or {}).get("text/plain", "<display: " + ", ".join(sorted(data or {})) + ">")
        buf.write(f"{plain}\n")
        return None

    publish._loopal_original = original  # type: ignore[attr-defined]
    return publish


@dataclass(frozen=True, slots=True)
class Prepared:
    """A job's code compiled once: the body, and the last expression (shown like Out)."""

    body: CodeType
    last: CodeType | None
    is_async: bool
    filename: str


class Runner:
    """Runs job code on the kernel's main thread; never raises into the caller."""

    def __init__(self, shell: Any, clock: Any, output_limit: int = 10_000) -> None:
        self.shell = shell
        self.clock = clock
        self.output_limit = output_limit
        self._cache: dict[tuple[str, str], Prepared] = {}

    # ------------------------------------------------------------ routing
    def install(self) -> None:
        """Wrap stdout/stderr/display so that job output can be routed (idempotent)."""
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if not isinstance(stream, _RoutedStream):
                setattr(sys, name, _RoutedStream(stream))
        pub = getattr(self.shell, "display_pub", None)
        if pub is not None and not hasattr(pub.publish, "_loopal_original"):
            pub.publish = _routed_publish(pub.publish)

    def uninstall(self) -> None:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if isinstance(stream, _RoutedStream):
                setattr(sys, name, stream._loopal_original)
        pub = getattr(self.shell, "display_pub", None)
        if pub is not None and hasattr(pub.publish, "_loopal_original"):
            try:
                del pub.publish  # drop the instance attribute, the class method shows again
            except AttributeError:
                pub.publish = pub.publish._loopal_original

    # ------------------------------------------------------------ compile
    def prepare(self, job: CronJob) -> Prepared:
        key = (job.id, job.code)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        filename = f"<cron {job.id}>"
        source = self.shell.transform_cell(job.code) if self.shell is not None else job.code
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)  # tracebacks show source
        tree = ast.parse(source, filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = compile(ast.Expression(tree.body.pop().value), filename, "eval", flags=_FLAGS)
        body = compile(tree, filename, "exec", flags=_FLAGS)
        is_async = bool(body.co_flags & _CO_COROUTINE) or bool(last and last.co_flags & _CO_COROUTINE)
        prepared = Prepared(body, last, is_async, filename)
        self._cache = {k: v for k, v in self._cache.items() if k[0] != job.id}
        self._cache[key] = prepared
        return prepared

    def is_async(self, job: CronJob) -> bool:
        try:
            return self.prepare(job).is_async
        except SyntaxError:
            return False

    # ---------------------------------------------------------------- run
    def run_sync(self, job: CronJob, occurrence: datetime | None, trigger: str = "schedule") -> Run:
        """Run synchronous code now; the output goes to the job's log only."""
        started, t0 = self.clock.now(), time.perf_counter()
        buf = _Buffer(self.output_limit)
        token = _capture.set(buf)
        error = None
        try:
            prep = self.prepare(job)
            ns = self.shell.user_ns
            exec(prep.body, ns)
            if prep.last is not None:
                _show(buf, eval(prep.last, ns))
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt | SystemExit):
                error = f"{type(e).__name__} in job code (ignored; the scheduler keeps going)"
            else:
                error = _format_error(e)
        finally:
            _capture.reset(token)
        return self._run(started, t0, buf, error, occurrence, trigger)

    async def run_async(self, job: CronJob, occurrence: datetime | None, trigger: str = "schedule") -> Run:
        """Run code that awaits; runs as a task on the kernel's loop."""
        started, t0 = self.clock.now(), time.perf_counter()
        buf = _Buffer(self.output_limit)
        _capture.set(buf)  # this task's own context: cells running meanwhile are unaffected
        error = None
        try:
            prep = self.prepare(job)
            ns = self.shell.user_ns
            result = eval(prep.body, ns)
            if inspect.iscoroutine(result):
                await result
            if prep.last is not None:
                value = eval(prep.last, ns)
                if inspect.iscoroutine(value):
                    value = await value
                _show(buf, value)
        except BaseException as e:
            cancelled = isinstance(e, asyncio.CancelledError)
            error = f"{type(e).__name__}: the job was cancelled" if cancelled else _format_error(e)
        finally:
            _capture.set(None)
        return self._run(started, t0, buf, error, occurrence, trigger)

    def _run(
        self, started: datetime, t0: float, buf: _Buffer, error: str | None, occurrence: datetime | None, trigger: str
    ) -> Run:
        output = buf.text()
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
        )


def _show(buf: _Buffer, value: Any) -> None:
    if value is not None:
        buf.write(f"{value!r}\n")


def _format_error(e: BaseException) -> str:
    """The traceback from the job's own frames on (the runner's frame is noise)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))
