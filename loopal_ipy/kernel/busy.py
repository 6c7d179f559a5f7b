"""Busy is a depth (docs/running.md, docs/kernel.md): which cells run now, in the main shell and in subshells.

- **Main shell.** ``pre_execute`` pushes a cell (silent ones too: they fire
  no ``*_run_cell`` events), ``pre_run_cell`` names it, and ``post_run_cell``
  (or, for a silent one, ``post_execute``) pops *that* cell: an awaiting cell
  lets loop callbacks run mid-cell, and a nested ``run_cell`` ends before its
  outer cell.
- **Subshells** (ipykernel 7) run their cells on threads of their own, and
  IPython's events fire there: each thread's depth is counted apart, under the
  GIL, and the end of the last one hands ``on_idle`` to the loop.
- **Loads and unloads.** The cell that runs ``%load_ext`` began before our
  hooks were in; ``%reload_ext`` hands the running cells to the next load, but
  only to a load in that same cell: cells handed over by an ``%unload_ext``
  in an earlier cell have ended long since (their end went to nobody).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_LOAD_CELL = object()  # stands for the cell that ran %load_ext: its pre_execute came before our hook
_EXECUTING = object()  # a cell between pre_execute and pre_run_cell (for good, if it is silent)
EVENTS = ("pre_execute", "pre_run_cell", "post_run_cell", "post_execute")


def cell_marker(shell: Any) -> object:
    """Which request runs now: the execute_request's id in a kernel, else the execution count."""
    get_parent = getattr(shell, "get_parent", None)
    parent = get_parent() if get_parent is not None else None
    msg_id = (parent.get("header") or {}).get("msg_id") if isinstance(parent, dict) else None
    return msg_id or ("count", getattr(shell, "execution_count", None))


def _request(shell: Any) -> dict[str, Any] | None:
    """The execute request this thread runs now (ipykernel's parent), or None."""
    get_parent = getattr(shell, "get_parent", None)  # ZMQInteractiveShell only
    parent = get_parent() if get_parent is not None else None
    if not isinstance(parent, dict) or (parent.get("header") or {}).get("msg_type") != "execute_request":
        return None
    return parent


def request_cell(shell: Any) -> tuple[str | None, str | None]:
    """(the frontend's cellId or None, the request's msg id) of the execute request running now; (None,
    None) outside one. JupyterLab and Notebook 7 send the cellId; nbclient and papermill do not."""
    parent = _request(shell)
    if parent is None:
        return None, None
    cell = (parent.get("metadata") or {}).get("cellId")
    msg_id = parent["header"].get("msg_id")
    return (cell if isinstance(cell, str) and cell else None), (msg_id if isinstance(msg_id, str) else None)


def displaying_cell(shell: Any) -> tuple[str | None, str | None]:
    """(which cell, which run of it) is executing: the frontend's cellId, else the cell's code."""
    parent = _request(shell)
    if parent is None:
        return None, None
    cell, msg_id = request_cell(shell)
    if cell is None:
        code = (parent.get("content") or {}).get("code")
        cell = f"code:{hash(code)}" if isinstance(code, str) else None
    return cell, msg_id


class Cells:
    """The cells running now; ``on_start``/``on_idle`` are told when the main shell gets busy or idle."""

    def __init__(
        self,
        on_start: Callable[[], None],
        on_idle: Callable[[], None],
        hand_over: Callable[[Callable[[], None]], object],
    ) -> None:
        self._on_start, self._on_idle, self._hand_over = on_start, on_idle, hand_over
        self._cells: list[Any] = []  # main shell, outermost first (their ExecutionInfo)
        self._subshells: dict[int, int] = {}  # thread id -> depth of the cells a subshell runs now
        self.loop_thread = threading.main_thread().ident  # where the kernel's loop runs, and jobs with it

    def adopt(self, cells: tuple[Any, ...] | None, in_a_cell: bool) -> None:
        """At load: the cells a reload in this same cell handed over, or the loading cell itself."""
        if cells is not None:
            self._cells = list(cells)
        elif in_a_cell:
            self._cells = [_LOAD_CELL]

    @property
    def running(self) -> tuple[Any, ...]:
        return tuple(self._cells)

    @property
    def main_busy(self) -> bool:
        return bool(self._cells)

    @property
    def subshell_busy(self) -> bool:
        return any(self._subshells.values())

    def off_loop(self) -> bool:
        return threading.get_ident() != self.loop_thread

    # ------------------------------------------------------------ IPython's events
    def pre_execute(self, *_: Any) -> None:
        if self.off_loop():
            self._subshell_cell(+1)
            return
        self._cells.append(_EXECUTING)
        self._on_start()

    def pre_run_cell(self, info: Any = None, *_: Any) -> None:
        if self.off_loop():
            return  # a subshell's: counted at pre_execute
        if self._cells and self._cells[-1] is _EXECUTING:
            self._cells[-1] = info
        else:
            self._cells.append(info)
            self._on_start()

    def post_execute(self, *_: Any) -> None:
        if self.off_loop():
            self._subshell_cell(-1)  # every subshell cell, silent or not, ends here
            return
        # A silent cell ends here (no post_run_cell comes); so does the cell that loaded us.
        if self._cells and self._cells[-1] in (_EXECUTING, _LOAD_CELL):
            self._cells.pop()
            self._ended()

    def post_run_cell(self, result: Any = None, *_: Any) -> None:
        if self.off_loop():
            return
        info = getattr(result, "info", None)
        for i in range(len(self._cells) - 1, -1, -1):
            if self._cells[i] is info and info is not None:
                del self._cells[i]
                break
        else:
            # No match: the cell was cancelled or raised before it returned (result None).
            if result is None and self._cells:
                self._cells.pop()
        self._ended()

    def _ended(self) -> None:
        if _LOAD_CELL in self._cells and len(self._cells) == 1 + self._cells.count(_EXECUTING):
            self._cells.remove(_LOAD_CELL)  # loaded from outside any cell we saw: stale now
        if not self._cells:
            self._on_idle()  # what came due while the cell ran fires once the cell's reply is out

    def _subshell_cell(self, step: int) -> None:
        """A subshell's cell starts (+1) or ends (-1) on its own thread; its end may let jobs fire."""
        me = threading.get_ident()
        depth = max(0, self._subshells.get(me, 0) + step)  # a cell that loaded us ends below zero
        if depth:
            self._subshells[me] = depth
        else:
            self._subshells.pop(me, None)
            self._hand_over(self._on_idle)
