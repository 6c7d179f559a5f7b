"""The parts of the live table (widget.py): its shared look, its pager, and one job's row."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..core.job import CronJob
from ..kernel.shown import BEAT_MS
from .columns import COLUMNS, NEXT, html_cells

if TYPE_CHECKING:
    from ..kernel.face import SchedulerFace

try:  # one shared style object per table instead of one per cell
    from ipywidgets.widgets.widget_string import HTMLStyle
except ImportError:  # pragma: no cover - a future ipywidgets may move it
    HTMLStyle = None

HEADERS = (*(c.title for c in COLUMNS), "")  # the last column: a row's buttons
COLUMN_SIZES = " ".join((*(c.size for c in COLUMNS), "max-content"))
# After a kernel restart ipywidgets marks every view of the old kernel disconnected and draws a
# broken-link icon in a ::before of each: one per cell, and the grid's own ::before took the first
# grid slot, so every row's buttons moved a row. One line says what happened instead.
STALE_STYLE = """<style>
.loopal-cron .jupyter-widgets-disconnected::before, .loopal-cron.jupyter-widgets-disconnected::before {
  display: none !important; content: none !important; }
.loopal-cron.jupyter-widgets-disconnected { opacity: 0.6; }
.loopal-cron.jupyter-widgets-disconnected::after { display: block; padding: 2px 0; color: #b71c1c;
  content: "this table belongs to a kernel that has stopped or restarted: run %cron list again"; }
</style>"""
ACTIONS = ("toggle", "run", "delete", "log")


class Look:
    """Layout and style models shared by every cell and button of one table: one each per
    table instead of two more widgets per cell."""

    def __init__(self) -> None:
        self.cell_layout = widgets.Layout(
            width="auto", min_width="0", padding="1px 0", border_bottom="1px solid #e8e8e8", overflow="hidden"
        )
        self.cell_style = {"style": HTMLStyle()} if HTMLStyle is not None else {}
        self.button_layout = widgets.Layout(width="auto", padding="0 8px", margin="0 2px 0 0")
        self.button_style = widgets.ButtonStyle()
        self.actions_layout = widgets.Layout(width="auto", border_bottom="1px solid #e8e8e8")

    def models(self) -> list[widgets.Widget]:
        return [self.cell_layout, self.button_layout, self.button_style, self.actions_layout, *self.cell_style.values()]

    def button(self, text: str) -> widgets.Button:
        return widgets.Button(description=text, layout=self.button_layout, style=self.button_style)

    def grid_parts(self) -> tuple[list[widgets.HTML], widgets.HTML, widgets.GridBox]:
        """The header cells, the "no jobs" line, and the grid the rows go in."""
        header = [
            widgets.HTML(value=f"<b>{html.escape(h)}</b>", layout=self.cell_layout, **self.cell_style) for h in HEADERS
        ]
        header[0].value += STALE_STYLE  # in a cell that never changes: no model of its own
        empty = widgets.HTML(
            value="no jobs — create one with <code>%cron create \"@every 10s\" print('hi')</code>",
            layout=widgets.Layout(grid_column="1 / -1"),
        )
        grid = widgets.GridBox(
            layout=widgets.Layout(
                # Text columns give way down to a floor (their text wraps); state, counts and the
                # buttons never do: a narrow notebook (a sidebar open) still shows every button.
                grid_template_columns=COLUMN_SIZES,
                grid_gap="0 8px",
                align_items="stretch",  # every cell as tall as its row: the row lines meet
                overflow="auto",
                width="100%",
            ),
            _dom_classes=("loopal-cron-grid",),
        )
        return header, empty, grid

    def pager(
        self, show: Callable[[int], None], page: Callable[[], int]
    ) -> tuple[widgets.Button, widgets.Button, widgets.HTML, widgets.HBox]:
        """◀ prev, next ▶, the "jobs 1–50 of 70" label and their box (hidden until needed)."""
        prev, nxt, label = self.button("◀ prev"), self.button("next ▶"), widgets.HTML()
        prev.on_click(lambda _b: show(page() - 1))
        nxt.on_click(lambda _b: show(page() + 1))
        box = widgets.HBox([prev, label, nxt], layout=widgets.Layout(display="none", align_items="center"))
        return prev, nxt, label, box


class Pulse:
    """A hidden standard ``Play`` widget: its frontend model counts every second, and each count that
    reaches the kernel says a page shows this table (Cron.keep_alive = "while-shown", shown.py)."""

    def __init__(self, beat: Callable[[], None], interval_ms: int) -> None:
        self._beat = beat
        self.play = widgets.Play(
            value=0,
            min=0,
            max=2**31 - 2,
            interval=interval_ms,
            repeat=True,
            show_repeat=False,
            layout=widgets.Layout(display="none"),
            _view_count=0,  # the frontend counts views: a new one (a page) starts its loop
        )
        self.play.observe(self._beaten, names="value")
        self.play.observe(self._views, names="_view_count")

    def _beaten(self, change: dict[str, Any]) -> None:
        self._beat()

    def _views(self, change: dict[str, Any]) -> None:
        if (change["new"] or 0) > (change["old"] or 0):
            # The frontend starts counting only on a change of `playing` to true: make one, for every page.
            self.play.playing = False
            self.play.playing = True


def pulse_for(bridge: SchedulerFace) -> Pulse | None:
    """A table or view of a kernel whose jobs live while a page shows it carries the pulse that says so."""
    shown = getattr(bridge, "shown", None)
    return Pulse(bridge.beat, BEAT_MS) if getattr(shown, "mode", "") == "while-shown" else None  # type: ignore[attr-defined]


class Row:
    """The widgets of one job's row; remembers the text each cell shows."""

    def __init__(self, look: Look, job: CronJob, now: datetime, act: Callable[[str, str], None]) -> None:
        self.job = job
        classes = (f"loopal-job-{job.id}",)
        self.texts = html_cells(job, now)
        self.definition = (job.name, *job.definition())  # the fixed cells are redrawn when it changes
        self.cells = {
            col: widgets.HTML(
                value=self.texts[col],
                layout=look.cell_layout,
                _dom_classes=(f"loopal-cell-{col}", *classes),
                **look.cell_style,
            )
            for col in self.texts
        }
        self.paused = job.paused
        self.buttons = {
            action: widgets.Button(
                description=desc,
                tooltip=tip,
                layout=look.button_layout,
                style=look.button_style,
                _dom_classes=(f"loopal-btn-{action}", *classes),
            )
            for action, desc, tip in (
                ("toggle", *_toggle_look(job.paused, job)),
                ("run", "run", f"run {_who(job)} now; the schedule is unchanged"),
                ("delete", "delete", f"delete {_who(job)}"),
                ("log", "log", f"show the run history of {_who(job)}, with outputs"),
            )
        }
        for action, button in self.buttons.items():
            button.on_click(_clicker(act, action, job.id))
        self.actions = widgets.HBox(list(self.buttons.values()), layout=look.actions_layout)
        self.widgets = [*self.cells.values(), self.actions]

    def update(self, now: datetime) -> int:
        """Send the cells whose text changed; returns how many."""
        sent = 0
        definition = (self.job.name, *self.job.definition())
        changed = definition != self.definition  # a create declared it again, changed (or %cron edit)
        self.definition = definition
        texts = html_cells(self.job, now, fixed=None if changed else False)
        for col, text in texts.items():
            if self.texts[col] != text:
                self.texts[col] = text
                self.cells[col].value = text
                sent += 1
        if self.job.paused != self.paused:
            self.paused = self.job.paused
            button = self.buttons["toggle"]
            with button.hold_sync():  # one message for both traits
                button.description, button.tooltip = _toggle_look(self.paused, self.job)
            sent += 1
        return sent

    def update_countdown(self, now: datetime) -> int:
        text = NEXT.html(self.job, now)
        if self.texts[NEXT.key] == text:
            return 0
        self.texts[NEXT.key] = text
        self.cells[NEXT.key].value = text
        return 1

    def close(self) -> None:
        for w in self.widgets:
            w.close()
        for w in self.buttons.values():
            w.close()


def _who(job: CronJob) -> str:
    """The job a button acts on, in its tooltip (what a screen reader says): rows differ by it."""
    return f"job {job.name or job.id}"


def _toggle_look(paused: bool, job: CronJob) -> tuple[str, str]:
    if paused:
        return "resume", f"resume {_who(job)}: fire again from the next occurrence (no catch-up)"
    return "pause", f"pause {_who(job)}: stop firing; keep the job"


def _clicker(act: Callable[[str, str], None], action: str, job_id: str) -> Callable[[Any], None]:
    return lambda _button: act(action, job_id)
