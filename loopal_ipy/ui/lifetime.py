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
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import ipywidgets as widgets
from traitlets import observe

if TYPE_CHECKING:
    from ..kernel.face import SchedulerFace

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


class LiveBox(widgets.VBox):
    """What a live table and a live view share with the page: counting its views (the frontend counts
    them, ``_view_count``), and being displayed with text snapshots for a saved notebook."""

    lives: ClassVar[Lifetimes[Any]]  # the subclass's own registry
    _bridge: SchedulerFace
    _loop: asyncio.AbstractEventLoop

    @observe("_view_count")
    def _views_changed(self, change: dict[str, Any]) -> None:
        if handed_over(self._loop, self._views_changed, change):
            return
        new, old = change["new"], change["old"]
        if new is None or getattr(self, "_closed", True):
            return
        if new > 0:
            self._shown()
        elif old:  # the frontend removed the last view (output cleared, cell re-run)
            self._hidden()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view, plus text/plain and text/html snapshots (dated) for a saved notebook."""
        data = super()._repr_mimebundle_(**kwargs)
        if data is None:
            return None
        data["text/plain"], data["text/html"] = self._snapshots()
        self.lives.keep(self, self._bridge.displaying_cell())
        self._shown()
        return data

    def _snapshots(self) -> tuple[str, str]:
        raise NotImplementedError

    def _shown(self) -> None:
        """On a page (again)."""

    def _hidden(self) -> None:
        """On no page any more: nothing need be sent until it is shown again."""

    def _let_go(self) -> None:
        """Stop listening to the scheduler and cancel what is scheduled on the loop."""

    def _owned(self) -> list[widgets.Widget]:
        """The widgets this one made, closed with it."""
        return []

    def close(self) -> None:
        """Let go of the scheduler, and close every widget model this one made (layouts and styles too)."""
        if getattr(self, "_closed", True):
            super().close()
            return
        self._closed = True
        self.lives.drop(self)
        self._let_go()
        owned = self._owned()
        for w in [*owned, self]:
            for model in (getattr(w, "layout", None), getattr(w, "style", None)):
                if isinstance(model, widgets.Widget):  # closing twice (shared ones) is a no-op
                    model.close()
        for w in owned:
            w.close()
        super().close()
