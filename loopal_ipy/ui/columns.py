"""The job table's columns, declared once (docs/table.md): the text table (``%cron list`` in a terminal,
a saved notebook's text/plain), its HTML snapshot (nbviewer, GitHub) and the live widget all draw these.

A column is its title, its widget cells' CSS class, its width in the widget's grid, and how it reads as
text and as HTML; ``fixed`` columns change only when the job is declared again.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..core.events import Event
from ..core.job import CronJob
from . import cells, render

if TYPE_CHECKING:
    from ..kernel.face import SchedulerFace

Cell = Callable[[CronJob, datetime], str]
SNAPSHOT_ROWS = 50  # a saved notebook keeps the first page of a big table, and how many more there were


@dataclass(frozen=True)
class Column:
    title: str  # the header, in every view
    key: str  # the widget cells' CSS class: loopal-cell-<key>
    size: str  # its width in the live table's grid
    text: Cell
    html: Cell
    fixed: bool = False  # changes only with the job's definition (or name)


def _job(job: CronJob, now: datetime) -> str:
    return job.label + (" [durable]" if job.durable else "") + ("" if job.recurring else " [once]")


def _schedule(job: CronJob, now: datetime) -> str:
    policy = render.policy(job)
    return f"{job.schedule} — {job.description}" + (f" ({policy})" if policy else "")


def _next(job: CronJob, now: datetime) -> str:
    if (start := job.next_start) is None:
        return "—"
    return f"{render.local(start, job.tz)} ({render.in_words(start, now)}){render.next_what(job)}"


def _last(job: CronJob, now: datetime) -> str:
    if (last := job.last_run) is None:
        return "—"
    return f"{render.local(last.started_at, job.tz)}, {last.duration * 1000:.0f} ms, {last.status}"


COLUMNS = (
    Column("job", "job", "minmax(7em, max-content)", _job, cells.job_cell, fixed=True),
    Column("schedule", "schedule", "minmax(7em, max-content)", _schedule, cells.schedule_cell, fixed=True),
    Column(
        "code", "code", "minmax(5em, max-content)", lambda j, _: render.preview(j.code), cells.code_cell, fixed=True
    ),
    Column("state", "state", "max-content", lambda j, _: j.state, cells.state_cell),
    Column("next fire", "next", "minmax(6em, max-content)", _next, cells.next_cell),
    Column("last run", "last", "minmax(8em, max-content)", _last, cells.last_cell),
    Column("runs/fail", "runs", "max-content", lambda j, _: f"{j.runs}/{j.failures}", cells.runs_cell),
)
NEXT = next(c for c in COLUMNS if c.key == "next")  # the one a countdown moves


def row(job: CronJob, now: datetime) -> dict[str, str]:
    """One job as text, by column title."""
    return {c.title: c.text(job, now) for c in COLUMNS}


def html_cells(job: CronJob, now: datetime, fixed: bool | None = None) -> dict[str, str]:
    """One job's widget cells as HTML, by column key: all of them, or only the fixed or the changing ones."""
    return {c.key: c.html(job, now) for c in COLUMNS if fixed is None or c.fixed == fixed}


def _more(jobs: list[CronJob], limit: int) -> str:
    left = len(jobs) - limit
    return (
        f"… and {left:,} more job{'s' if left != 1 else ''} (the live table pages through them; "
        "loopal_ipy.get_scheduler().jobs() has them all)"
        if left > 0
        else ""
    )


def table_text(jobs: list[CronJob], now: datetime, events: Iterable[Event] = (), limit: int = SNAPSHOT_ROWS) -> str:
    if not jobs:
        body = "no jobs — create one with %cron create \"@every 10s\" print('hi')"
    else:
        titles = [c.title for c in COLUMNS]
        rows = [row(j, now) for j in jobs[:limit]]
        widths = {t: max(len(t), *(len(r[t]) for r in rows)) for t in titles}
        lines = ["  ".join(t.ljust(widths[t]) for t in titles)]
        lines += ["  ".join(r[t].ljust(widths[t]) for t in titles) for r in rows]
        if more := _more(jobs, limit):
            lines.append(more)
        body = "\n".join(line.rstrip() for line in lines)
    foot = [*render.footer_lines(events), render.taken(now)]
    return body + "\n" + "\n".join(foot)


def table_html(jobs: list[CronJob], now: datetime, events: Iterable[Event] = (), limit: int = SNAPSHOT_ROWS) -> str:
    """The table for a viewer without widgets: each cell its text, escaped (the widget's HTML needs its CSS)."""
    head = "".join(f"<th style='text-align:left'>{html.escape(c.title)}</th>" for c in COLUMNS)
    body = (
        "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>" for v in row(j, now).values())
            + "</tr>"
            for j in jobs[:limit]
        )
        or f"<tr><td colspan='{len(COLUMNS)}'>no jobs</td></tr>"
    )
    if more := _more(jobs, limit):
        body += f"<tr><td colspan='{len(COLUMNS)}'>{html.escape(more)}</td></tr>"
    foot = "".join(f"<div>{html.escape(line)}</div>" for line in render.footer_lines(events))
    foot += f"<div style='color:#666;font-size:90%'>{html.escape(render.taken(now))}</div>"
    return f"<table class='loopal-cron'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"


class JobTable:
    """A snapshot of the job table (text/plain and text/html)."""

    def __init__(self, bridge: SchedulerFace) -> None:
        self.jobs = bridge.jobs()
        self.now = bridge.now()
        self.events = list(bridge.events)

    def __repr__(self) -> str:
        return table_text(self.jobs, self.now, self.events)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        return table_html(self.jobs, self.now, self.events)
