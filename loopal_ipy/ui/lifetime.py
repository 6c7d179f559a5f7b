"""How long a live widget lives, and on which thread it acts (docs/table.md, docs/live.md).

Tables and views are the same kind of thing to a notebook: a cell that runs again
replaces what its earlier run showed, and past a cap the oldest goes, because every
live one holds widget models and a scheduler listener, and a page with thousands of
models cannot even be restored after a reload.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

Cell = tuple[str | None, str | None]  # (which cell, which run of it): bridge.displaying_cell()
_MAIN = threading.main_thread().ident  # the kernel's loop runs here


class Closable(Protocol):
    def close(self) -> None: ...


W = TypeVar("W", bound=Closable)


class Lifetimes(Generic[W]):
    """The live widgets of one kind, oldest display first."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._live: dict[int, tuple[W, Cell]] = {}

    def keep(self, widget: W, cell: Cell | None = None) -> None:
        """Count ``widget`` as the newest; close what it supersedes: what its cell's earlier runs showed,
        and the oldest past the cap (``close`` must ``drop``)."""
        old = self._live.pop(id(widget), None)
        mine = cell if cell is not None and cell[0] is not None else (old[1] if old else (None, None))
        if mine[0] is not None:
            for other, where in list(self._live.values()):
                if where[0] == mine[0] and where[1] != mine[1]:
                    other.close()  # shown by an earlier run of this same cell
        self._live[id(widget)] = (widget, mine)
        while len(self._live) > self.cap:
            next(iter(self._live.values()))[0].close()

    def drop(self, widget: W) -> None:
        self._live.pop(id(widget), None)

    def alive(self) -> list[W]:
        return [widget for widget, _ in self._live.values()]


def handed_over(loop: asyncio.AbstractEventLoop, call: Callable[..., None], *args: Any) -> bool:
    """Called from a thread other than the loop's (JupyterLab sends comm messages over subshells):
    hand ``call(*args)`` to the loop, where timers and widgets live, and say so."""
    if threading.get_ident() == _MAIN:
        return False
    loop.call_soon_threadsafe(call, *args)
    return True
