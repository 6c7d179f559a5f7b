"""A job cannot end its kernel (docs/kernel.md).

``exit()`` and ``quit()`` (IPython's exiter) and ``get_ipython().ask_exit()``
do not raise: they set ``shell.exit_now`` and queue an ``ask_exit`` payload, and
ipykernel shuts down after its next request. ``os._exit`` ends the process at
once. While job or hook code runs in this kernel's process, each of them raises
``JobExit`` at the call instead, which the runner records as the run's error,
naming the call. Nothing changes for the user's cells, for other threads' code
outside a job, or for a forked child (a multiprocessing worker's ``os._exit``).

What cannot be stopped: a signal (``os.kill(os.getpid(), 9)``), ``os.abort()``
or a crash in C code. A durable job that ends its kernel that way was saved as
running before its code started, so it comes back paused (``journal.py``).
"""

from __future__ import annotations

import linecache
import os
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

_ORIGINAL = "_loopal_original"


class JobExit(BaseException):
    """Raised at a call that would end the kernel, made from job or hook code."""


def _said(what: str) -> str:
    return f"{what} in a job would end the kernel: the job was stopped there, and the kernel keeps running"


def _exiter_name() -> str:
    """``exit()`` or ``quit()``: one IPython object stands for both, so read the calling line."""
    import IPython

    ipython = os.path.dirname(IPython.__file__)
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(ipython):
        frame = frame.f_back
    if frame is None:
        return "exit()"
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    return "quit()" if "quit" in line and "exit" not in line else "exit()"


class Exits:
    """Install and remove the guards of one shell (idempotent, symmetric)."""

    def __init__(self, shell: Any, in_job: Callable[[], bool]) -> None:
        self.shell = shell
        self.in_job = in_job
        self.pid = os.getpid()

    def _ours(self) -> bool:
        return self.in_job() and os.getpid() == self.pid

    def install(self) -> None:
        shell, ours = self.shell, self._ours
        if shell is not None and hasattr(shell, "ask_exit") and not hasattr(shell.ask_exit, _ORIGINAL):
            original = shell.ask_exit

            def ask_exit(*args: Any, **kwargs: Any) -> Any:
                if ours():
                    called_from_exiter = "autocall" in sys._getframe(1).f_code.co_filename
                    raise JobExit(_said(_exiter_name() if called_from_exiter else "ask_exit()"))
                return original(*args, **kwargs)

            setattr(ask_exit, _ORIGINAL, original)
            shell.ask_exit = ask_exit
        if not hasattr(os._exit, _ORIGINAL):
            real_exit = os._exit

            def _exit(status: int) -> Any:
                if ours():
                    raise JobExit(_said(f"os._exit({status!r})"))
                real_exit(status)

            setattr(_exit, _ORIGINAL, real_exit)
            os._exit = _exit

    def uninstall(self) -> None:
        shell = self.shell
        original = getattr(getattr(shell, "ask_exit", None), _ORIGINAL, None)
        if original is not None:
            del shell.ask_exit  # the instance attribute goes; the class's method shows again
            if getattr(shell, "ask_exit", None) is not original:
                shell.ask_exit = original
        real_exit = getattr(os._exit, _ORIGINAL, None)
        if real_exit is not None:
            os._exit = real_exit


def system_exit(e: SystemExit) -> str:
    """How a ``sys.exit()`` in a job is said."""
    code = "" if e.code is None else repr(e.code)
    return _said(f"sys.exit({code})")
