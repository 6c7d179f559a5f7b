"""The live job table (docs/table.md): standard ipywidgets, pushed by scheduler events.

Every cell is its own ``HTML`` widget, so an event sends only the cells whose
text changed. Nothing polls the scheduler: rows change when the core emits an
event (flushed once per loop turn, so a sync job's fired→finished pair is one
update), and countdowns move on a ticker on the kernel's loop that runs only
while the table is displayed, wakes only when some countdown text would change
(at most once a second) and is not a scheduler wake-up (``bridge.wakeups``).
"""

from __future__ import annotations

import asyncio
import html
import math
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..core.errors import CronError
from ..core.events import Event
from ..core.job import CronJob
from . import cells, columns, render
from .lifetime import Lifetimes, LiveBox, handed_over
from .logview import LogView
from .tableparts import Look, Row, pulse_for

if TYPE_CHECKING:
    from ..kernel.face import SchedulerFace

# Tables alive in this kernel, oldest display first. A cell that runs again replaces the
# tables its earlier run showed, and past MAX_LIVE_TABLES the oldest is closed: a table
# is a few hundred widget models and a scheduler listener, and a notebook page with
# thousands of models cannot even be restored after a reload.
MAX_LIVE_TABLES = 12
DOUBLE_CLICK = 0.6  # seconds: a second pause/resume click of one job within this is the same click
_live: Lifetimes[CronTable] = Lifetimes(MAX_LIVE_TABLES)


def live_tables() -> list[CronTable]:
    """The tables not closed yet, oldest display first."""
    return _live.alive()


class CronTable(LiveBox):
    """The live table of a kernel's jobs: ``%cron list`` / ``loopal_ipy.table()``.

    ``bridge`` is a ``KernelScheduler``, seen through ``face.SchedulerFace``
    (the table never reaches the core behind it). Rows are built for at most
    ``page_size`` jobs at a time (a pager appears past that), because each row
    is a dozen widgets and a browser drawing thousands of them crawls.
    """

    def __init__(self, bridge: SchedulerFace, *, page_size: int = 50, **kwargs: Any) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self._bridge = bridge
        self._loop: asyncio.AbstractEventLoop = bridge.loop
        self.page_size = page_size
        self._page = 0
        self._rows: dict[str, Row] = {}
        self._order: list[str] | None = None
        self._pending: set[str] = set()
        self._flush_handle: asyncio.Handle | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._last_tick = -math.inf
        self._displayed = False  # shown at least once (the frontend may not count views)
        self._dormant = False  # the frontend counted its views down to 0
        self._stale = False
        self._closed = False
        self._toggled: dict[str, float] = {}  # job id -> loop time of its last pause/resume click
        self.ticks = 0  # countdown refreshes, for tests and benchmarks (never scheduler wake-ups)

        self._look = Look()
        self._header, self._empty, self._grid = self._look.grid_parts()
        self._prev, self._next, self._page_label, self._pager = self._look.pager(self.show_page, lambda: self._page)
        self._status = widgets.HTML(_dom_classes=("loopal-cron-status",))
        self._footer = widgets.HTML(_dom_classes=("loopal-cron-footer",))
        self._log = LogView(bridge, self._look.button)
        self._pulse = pulse_for(bridge)
        self._parts: list[widgets.Widget] = [*self._header, self._empty, self._grid, self._prev, self._next]
        self._parts += [self._page_label, self._pager, self._status, self._footer, *self._look.models()]
        self._parts += self._pulse_models()
        super().__init__(
            children=[self._grid, self._pager, self._footer, self._status, self._log, *self._pulse_models()[:1]],
            _view_count=0,  # ask the frontend to count views: the ticker runs only while one exists
            _dom_classes=("loopal-cron",),
            **kwargs,
        )
        self._unsubscribe: Callable[[], None] | None = bridge.subscribe(self._on_event)
        self._sync_rows(self._bridge.now())
        self._update_footer()
        _live.keep(self, bridge.displaying_cell())  # made by this cell, even inside a layout of the user's

    def _pulse_models(self) -> list[widgets.Widget]:
        return [self._pulse.play, self._pulse.play.layout] if self._pulse is not None else []

    # ------------------------------------------------------------ inspection
    def cells(self, job_id: str) -> dict[str, widgets.HTML]:
        """The cell widgets of a job's row (KeyError if it is not on this page)."""
        return dict(self._rows[job_id].cells)

    def buttons(self, job_id: str) -> dict[str, widgets.Button]:
        """The buttons of a job's row: toggle (pause/resume), run, delete, log."""
        return dict(self._rows[job_id].buttons)

    @property
    def row_ids(self) -> list[str]:
        """Job ids of the rows shown, top to bottom."""
        return list(self._order or [])

    @property
    def ticking(self) -> bool:
        return self._ticker is not None

    @property
    def footer(self) -> widgets.HTML:
        return self._footer

    @property
    def status(self) -> widgets.HTML:
        return self._status

    # ----------------------------------------------------------------- events
    def _on_event(self, event: Event) -> None:
        # Called inside Scheduler.emit: never raise, do as little as possible.
        if self._closed:
            return
        if self._dormant:
            self._stale = True
            return
        self._pending.add(event.job_id)
        if self._flush_handle is None:
            if self._loop.is_running():
                # One update per loop turn: a sync job's fired+finished pair sends its cells once.
                self._flush_handle = self._loop.call_soon(self._flush)
            else:
                self._flush()

    def _flush(self) -> None:
        self._flush_handle = None
        if self._closed:
            return
        if self._dormant:
            self._stale = True
            return
        pending, self._pending = self._pending, set()
        try:
            now = self._bridge.now()
            self._sync_rows(now)
            for job_id in pending:
                row = self._rows.get(job_id)
                if row is not None:
                    row.update(now)
            self._update_footer()
            if self._log.job_id is not None and (self._log.job_id in pending or "-" in pending):
                self._log.update()
        except Exception:  # a table bug must not break the scheduler: show it
            self._set_status(f"table update failed:\n{traceback.format_exc()}")
        self._arm_ticker()

    def refresh(self) -> None:
        """Re-read every row on this page and send what changed."""
        self._stale = False
        self._pending.update(self._rows)
        self._pending.add("-")
        self._flush()

    # ------------------------------------------------------------------- rows
    def _page_jobs(self) -> list[CronJob]:
        jobs = self._bridge.jobs()
        pages = max(1, math.ceil(len(jobs) / self.page_size))
        self._page = min(max(self._page, 0), pages - 1)
        first = self._page * self.page_size
        if pages > 1:
            text = f"jobs {first + 1}–{min(first + self.page_size, len(jobs))} of {len(jobs)}"
            if self._page_label.value != text:
                self._page_label.value = text
        want = None if pages > 1 else "none"
        if self._pager.layout.display != want:
            self._pager.layout.display = want
        return jobs[first : first + self.page_size]

    def _sync_rows(self, now: datetime) -> None:
        """Make the rows match the page's jobs: build new rows, drop gone ones."""
        jobs = self._page_jobs()
        ids = [j.id for j in jobs]
        for job in jobs:
            if job.id not in self._rows:
                self._rows[job.id] = Row(self._look, job, now, self._act)
        gone = [self._rows.pop(i) for i in set(self._rows) - set(ids)]
        if ids != self._order:
            self._order = ids
            body = [w for i in ids for w in self._rows[i].widgets] or [self._empty]
            # A new tuple, never a mutated list: traitlets syncs on assignment only.
            self._grid.children = (*self._header, *body)
        for row in gone:  # after the grid stopped referring to them
            row.close()

    def _handed_over(self, call: Callable[..., None], *args: Any) -> bool:
        return handed_over(self._loop, call, *args)

    lives = _live

    def show_page(self, page: int) -> None:
        if self._handed_over(self.show_page, page):
            return
        self._page = page
        self.refresh()

    # ---------------------------------------------------------------- ticker
    def _arm_ticker(self) -> None:
        """Wake when the soonest countdown text changes, at most once a second, only while shown."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._closed or self._dormant or not self._displayed or not self._bridge.started:
            return
        if getattr(self._bridge, "held_for_page", False):
            return  # no page shows the kernel (Cron.keep_alive): stay silent, so a culler can end it
        now = self._bridge.now()
        delays = [
            d
            for row in self._rows.values()
            if (start := row.job.next_start) is not None
            if (d := cells.until_change(start, now)) is not None
        ]
        if not delays:
            return
        delay = max(min(delays), self._last_tick + 1.0 - self._loop.time(), 0.0)
        self._ticker = self._loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        self._ticker = None
        if self._closed or self._dormant:
            return
        self._last_tick = self._loop.time()
        self.ticks += 1
        now = self._bridge.now()
        for row in self._rows.values():
            row.update_countdown(now)
        self._arm_ticker()

    def _hidden(self) -> None:
        self._dormant = True
        self._arm_ticker()

    def _snapshots(self) -> tuple[str, str]:
        jobs = self._bridge.jobs()
        now = self._bridge.now()
        events = list(self._bridge.events)
        return columns.table_text(jobs, now, events), columns.table_html(jobs, now, events)

    def _shown(self) -> None:
        """On screen (again): catch up if events were missed while hidden, else keep ticking."""
        self._displayed = True
        if self._dormant or self._stale:
            self._dormant = False
            self.refresh()
        else:
            self._arm_ticker()

    # ---------------------------------------------------------------- actions
    def _act(self, action: str, job_id: str) -> None:
        """A button click: do it, or say in the table why not (never raise into the kernel log)."""
        if self._handed_over(self._act, action, job_id):
            return
        try:
            if action == "toggle":
                # Both clicks of a double click leave the browser before the new label comes
                # back: the second one would undo the first. One toggle per job per 0.6 s.
                now = self._loop.time()
                if now - self._toggled.get(job_id, -math.inf) < DOUBLE_CLICK:
                    return
                self._toggled[job_id] = now
                job = self._bridge.get(job_id)
                (self._bridge.resume if job.paused else self._bridge.pause)(job_id)
            elif action == "run":
                self._bridge.run_now(job_id)
            elif action == "delete":
                self._bridge.delete(job_id)
            elif action == "log":
                self.show_log(None if self._log.job_id == job_id else job_id)
            self._set_status("")
        except CronError as e:
            self._set_status(str(e))
        except Exception:
            self._set_status(f"{action} failed:\n{traceback.format_exc()}")

    def _set_status(self, text: str) -> None:
        value = f"<pre style='color:{cells.RED};margin:2px 0'>{html.escape(text)}</pre>" if text else ""
        if self._status.value != value:
            self._status.value = value

    # ------------------------------------------------------------------- log
    @property
    def log_runs(self) -> list[widgets.Output]:
        """The log view's widgets, one per run shown, oldest first."""
        return self._log.runs

    def show_log(self, job_id: str | None) -> None:
        """Open the log view of a job under the table (None closes it)."""
        if job_id is None:
            self._log.hide()
        else:
            self._log.show(job_id)

    def _update_footer(self) -> None:
        lines = render.footer_lines(self._bridge.events)
        value = "".join(f"<div style='color:#8a6d3b'>⚠ {html.escape(line)}</div>" for line in lines)
        if self._footer.value != value:
            self._footer.value = value

    # ---------------------------------------------------------------- closing
    def _let_go(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for handle in (self._ticker, self._flush_handle):
            if handle is not None:
                handle.cancel()
        self._ticker = self._flush_handle = None
        for row in self._rows.values():
            row.close()
        self._rows.clear()
        self._log.close()

    def _owned(self) -> list[widgets.Widget]:
        return self._parts
