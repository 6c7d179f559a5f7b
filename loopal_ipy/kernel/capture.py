"""Where a job's output goes (docs/running.md, "Output"): into its own log, by every way a job can write.

Jobs fire outside any cell, so the kernel's ambient output parent is useless
(it is whichever cell scheduled the timer, or nothing after a restart). We
route instead, keyed on a ContextVar that says "this code is a job's":

- the kernel's stream objects themselves (``sys.stdout``/``sys.stderr`` as they
  are at load) become instances of a subclass whose ``write`` routes: a logging
  handler made before ``%load_ext`` holds those very objects, so its records
  reach the job's log too;
- the display publisher: new displays from a job go to its log as text,
  ``handle.update(...)`` (aimed at a place the user chose) goes out, and
  ``clear_output()`` from a job clears only what its run showed, never a cell;
- file descriptors 1 and 2 (``os.system``, subprocesses, C extensions) are
  pointed at a private file while a *sync* job runs, and pointed back after,
  so the kernel's own fd forwarding works as before for the user's cells.

A ContextVar, not a global swap, because an async job's task interleaves with
the user's cells: each task carries its own value, so a cell that runs while a
job awaits still prints into its own output.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from .buffer import Buffer
from .fdcapture import FdCapture

_capture: ContextVar[Buffer | None] = ContextVar("loopal_ipy_capture", default=None)
_PATCHED = "_loopal_routed"  # marks a stream or publisher we patched, holding what to restore


def current() -> Buffer | None:
    """The running job's buffer in this context, or None outside jobs (and after the run ended)."""
    buf = _capture.get()
    return None if buf is None or buf.closed else buf


@contextlib.contextmanager
def capturing(buf: Buffer) -> Iterator[Buffer]:
    token = _capture.set(buf)
    try:
        yield buf
    finally:
        _capture.reset(token)


def set_for_task(buf: Buffer | None) -> None:
    """Set the buffer for the rest of the current task (an async job's own context)."""
    _capture.set(buf)


# ------------------------------------------------------------- streams
_PID = os.getpid()


def _fd_of(stream: Any) -> int:
    return 2 if getattr(stream, "name", None) in ("stderr", "<stderr>") else 1


def _routed(inner: Any, fd: int = 1) -> Any:
    """``inner`` (a stream's write) that sends a job's text to the job's buffer instead.

    In a process forked from a run (a multiprocessing pool) the buffer is a copy nobody reads:
    the text goes to the file descriptor, which the run's fd capture holds, so the run gets it.
    """

    def write(text: str, *args: Any, **kwargs: Any) -> Any:
        buf = _capture.get()
        if buf is None or buf.closed:
            return inner(text, *args, **kwargs)
        if not isinstance(text, str):  # as a text stream refuses it: at the call, which may catch it
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if os.getpid() != _PID:
            os.write(fd, text.encode("utf-8", "replace"))
            return len(text)
        buf.write(text, "stderr" if fd == 2 else "stdout")
        return len(text)

    write._loopal_inner = inner  # type: ignore[attr-defined]
    return write


class _WriteProperty:
    """``write`` as a data descriptor, so it wins over the instance's own ``write``.

    IPython 9 wraps ``sys.stdout.write`` during every ``run_cell`` by setting an
    instance attribute and restores the one it saw afterwards (``_tee``): a plain
    instance patch would be lost after the first cell. Assignments land in the
    instance dict (unwrapped, so nothing nests), reads always come routed.
    """

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        # super() of a class known only here (the stream's, this was put on): mypy cannot look it up
        inner = obj.__dict__.get("write") or super(type(obj), obj).write  # type: ignore[misc]
        return _routed(inner, _fd_of(obj))

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__["write"] = getattr(value, "_loopal_inner", value)

    def __delete__(self, obj: Any) -> None:
        obj.__dict__.pop("write", None)


_subclasses: dict[type, type] = {}


def _route_stream(stream: Any) -> bool:
    """Make ``stream`` (the very object logging handlers may hold) route job writes; False if it cannot."""
    cls = type(stream)
    if _PATCHED in vars(cls):
        return True
    sub = _subclasses.get(cls)
    if sub is None:
        sub = _subclasses[cls] = type(cls.__name__, (cls,), {"write": _WriteProperty(), _PATCHED: cls})
    try:
        stream.__class__ = sub
    except TypeError:  # a builtin stream type (terminal IPython's TextIOWrapper): no subclass swap
        return False
    return True


def _unroute_stream(stream: Any) -> None:
    original = vars(type(stream)).get(_PATCHED)
    if original is not None:
        stream.__class__ = original


class _RoutedStream:
    """Stand-in for a ``sys.stdout`` whose class cannot be swapped: job writes go to the job's buffer."""

    def __init__(self, original: Any) -> None:
        self._loopal_original = original
        self.write = _routed(original.write, _fd_of(original))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loopal_original, name)


# ------------------------------------------------------------- display
def _route_display(pub: Any) -> None:
    if _PATCHED in vars(pub):
        return
    publish, clear = pub.publish, getattr(pub, "clear_output", None)

    def routed_publish(data: Any = None, *args: Any, **kwargs: Any) -> Any:
        buf = _capture.get()
        if buf is None or buf.closed:
            return publish(data, *args, **kwargs)
        data = data if isinstance(data, dict) else {}
        metadata = kwargs.get("metadata", args[0] if args else None)
        transient = kwargs.get("transient")
        display_id = transient.get("display_id") if isinstance(transient, dict) else None
        # Updates of a display the user made in a cell (handle.update) are aimed at a place the user
        # chose, so they go out; updates of the run's own displays, and new displays, stay the run's.
        if kwargs.get("update"):
            return None if buf.update(display_id, data, metadata) else publish(data, *args, **kwargs)
        buf.display(data, metadata=metadata, display_id=display_id)
        return None

    def routed_clear(*args: Any, **kwargs: Any) -> Any:
        buf = _capture.get()
        if (buf is None or buf.closed) and clear is not None:
            return clear(*args, **kwargs)
        if buf is not None:
            buf.clear()  # what the run showed so far, never a cell's output
        return None

    pub.publish = routed_publish
    if clear is not None:
        pub.clear_output = routed_clear
    setattr(pub, _PATCHED, True)


def _unroute_display(pub: Any) -> None:
    if _PATCHED not in vars(pub):
        return
    for name in ("publish", "clear_output", _PATCHED):
        with contextlib.suppress(AttributeError):
            delattr(pub, name)


class Routing:
    """Install and remove the routing of one shell's output (idempotent, symmetric)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.streams: list[Any] = []
        self.kernel_streams: dict[str, Any] = {}  # name -> the routed object jobs write to
        self.fd = FdCapture()

    def install(self) -> None:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is None:
                continue
            if isinstance(stream, _RoutedStream) or stream in self.streams:
                self.kernel_streams[name] = stream
            elif _route_stream(stream):
                self.streams.append(stream)
                self.kernel_streams[name] = stream
            else:
                self.kernel_streams[name] = _RoutedStream(stream)
                setattr(sys, name, self.kernel_streams[name])
        pub = getattr(self.shell, "display_pub", None)
        if pub is not None:
            _route_display(pub)

    @contextlib.contextmanager
    def job_streams(self) -> Iterator[None]:
        """While job code runs, ``sys.stdout``/``sys.stderr`` are the kernel's routed streams.

        A waiting cell may have swapped in its own (``with redirect_stdout(buf): await wait(...)``):
        a job's print must still go to the job's log, not into the user's buffer.
        """
        saved = {name: getattr(sys, name) for name in self.kernel_streams}
        for name, stream in self.kernel_streams.items():
            setattr(sys, name, stream)
        try:
            yield
        finally:
            for name, stream in saved.items():
                setattr(sys, name, stream)

    def uninstall(self) -> None:
        for stream in self.streams:
            _unroute_stream(stream)
        self.streams.clear()
        self.kernel_streams.clear()
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if isinstance(stream, _RoutedStream):
                setattr(sys, name, stream._loopal_original)
        pub = getattr(self.shell, "display_pub", None)
        if pub is not None:
            _unroute_display(pub)
        self.fd.close()
