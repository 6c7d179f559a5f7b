"""Nested execution belongs to the run (docs/kernel.md): ``run_cell``, ``%run`` and ``%time`` in a job.

ipykernel sends a nested cell's result (the display hook) and its traceback
(``_showtraceback``) straight to iopub under the last cell's parent, past
``sys.stdout``, and ``run_cell`` does not raise: the job would be logged
``ok`` while its traceback landed in someone else's cell. While job code runs,
both come to the run's buffer instead, as text, and a traceback marks the run
failed (``Buffer.nested_error``). A traceback of a display's formatter (a
``_repr_html_`` that raises) is shown too but fails nothing, as in a cell.
Outside jobs nothing changes.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from . import capture

_PATCHED = "_loopal_nested"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(text: str) -> str:
    """Terminal colours out: a log is text."""
    return _ANSI.sub("", text)


def _route_traceback(shell: Any) -> None:
    original: Callable[..., Any] = shell._showtraceback

    def _showtraceback(etype: Any, evalue: Any, stb: Any, *args: Any, **kwargs: Any) -> Any:
        buf = capture.current()
        if buf is None:
            return original(etype, evalue, stb, *args, **kwargs)
        text = plain("\n".join(stb) if isinstance(stb, list | tuple) else str(stb)).rstrip() + "\n"
        buf.write(text, "stderr")
        buf.nested_error = text
        shell._last_traceback = stb
        return None

    setattr(_showtraceback, _PATCHED, original)
    shell._showtraceback = _showtraceback


def _route_displayhook(hook: Any) -> None:
    original: Callable[[], Any] = hook.finish_displayhook

    def finish_displayhook() -> Any:
        buf = capture.current()
        msg = getattr(hook, "msg", None)
        if buf is None or not isinstance(msg, dict):
            return original()
        data = (msg.get("content") or {}).get("data") or {}
        if data:
            buf.display(data)
        hook.msg = None  # sent nowhere: the run's log has it
        return None

    setattr(finish_displayhook, _PATCHED, original)
    hook.finish_displayhook = finish_displayhook


def _route_formatter(formatter: Any) -> None:
    original: Callable[..., Any] = formatter.format

    def format(*args: Any, **kwargs: Any) -> Any:
        buf = capture.current()
        if buf is None:
            return original(*args, **kwargs)
        failed = buf.nested_error
        try:
            return original(*args, **kwargs)
        finally:
            buf.nested_error = failed  # IPython showed the formatter's traceback; the run goes on, as a cell

    setattr(format, _PATCHED, original)
    formatter.format = format


class Nested:
    """Install and remove the routing of one shell's nested results and tracebacks (idempotent)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def install(self) -> None:
        shell = self.shell
        if shell is None:
            return
        if hasattr(shell, "_showtraceback") and not hasattr(shell._showtraceback, _PATCHED):
            _route_traceback(shell)
        hook = getattr(shell, "displayhook", None)
        if hook is not None and hasattr(hook, "finish_displayhook") and not hasattr(hook.finish_displayhook, _PATCHED):
            _route_displayhook(hook)
        formatter = getattr(shell, "display_formatter", None)
        if formatter is not None and hasattr(formatter, "format") and not hasattr(formatter.format, _PATCHED):
            _route_formatter(formatter)

    def uninstall(self) -> None:
        shell = self.shell
        if shell is None:
            return
        owners = ((shell, "_showtraceback"), (getattr(shell, "displayhook", None), "finish_displayhook"))
        for owner, name in (*owners, (getattr(shell, "display_formatter", None), "format")):
            if hasattr(getattr(owner, name, None), _PATCHED):
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
