"""A job's latest run, live under a cell (docs/live.md): ``%cron show NAME`` and ``%cron create --show``.

A view is two standard widgets: a one-line header (``HTML``) and an ``Output``
whose outputs are the latest run's, as a cell would have shown them. Each run
replaces them in place, so a run sends only itself; the page keeps nothing of
earlier runs. Because it is widget state, the kernel holds it: a reloaded page or
a reopened tab draws the latest run from the kernel, and Voila draws it too. A
view whose kernel restarted cannot hear from it again: the frontend marks its
widgets disconnected, and a style rule in the header then shows the word stale.
A saved notebook keeps a dated text/html snapshot for viewers without widgets.
"""

from __future__ import annotations

import asyncio
import html
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from IPython.display import display, update_display

from ..core.errors import CronError
from ..core.events import GONE, Event
from ..core.job import CronJob, Run
from . import cells, render
from .lifetime import Lifetimes, LiveBox
from .tableparts import pulse_for

if TYPE_CHECKING:
    from ..kernel.face import SchedulerFace

MAX_LIVE_VIEWS = 24  # views alive in a kernel; showing one more closes the oldest
# Shows the stale line only where the frontend marked the view's widgets disconnected (its kernel
# restarted or died). It is a child of its own that never changes, so no header update resends it.
STYLE = (
    "<style>.loopal-view-head .loopal-stale{display:none}"
    ".jupyter-widgets-disconnected .loopal-stale{display:inline;color:#c62828;font-weight:bold}</style>"
)
_live: Lifetimes[CronView] = Lifetimes(MAX_LIVE_VIEWS)

Output = Mapping[str, Any]  # one nbformat output (stream or display_data)


def live_views() -> list[CronView]:
    """The views not closed yet, oldest display first."""
    return _live.alive()


# ------------------------------------------------------------------ what a view holds
def run_outputs(job: CronJob, run: Run | None) -> tuple[Output, ...]:
    """A run as a cell's outputs: what it showed, in order, then its error.

    A run loaded from disk kept no order (``Run.shown`` is in memory, for a job's newest run only): the
    log view's outputs of it stand in (its text, its error, its HTML, its images).
    """
    if run is None:
        return ()
    if run.shown is None:
        return cells.log_outputs(job, run)[1:]  # without the log's header line: the view has its own
    error = [{"output_type": "stream", "name": "stderr", "text": run.error.rstrip() + "\n"}] if run.error else []
    return (*run.shown, *error)


def head_parts(job: CronJob, gone: str | None = None) -> list[str]:
    """The header's facts, in words: name, when the last run ran and how long, its status, next fire, state."""
    name = job.name or job.id
    if gone:
        return [name, gone]
    last = job.last_run
    parts = [name]
    if job.running:
        parts.append("running now")
    if last is None:
        parts.append("no run yet")
    else:
        parts.append(f"ran {render.local(last.started_at, job.tz)} in {_took(last.duration)}, {last.status}")
    if job.paused:
        parts.append(f"paused (%cron resume {name})")
    elif job.next_start is not None:
        parts.append(f"next {render.local(job.next_start, job.tz)}{render.next_what(job)}")
    else:
        parts.append("no next fire")
    return parts


def _took(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def head_html(job: CronJob, gone: str | None = None) -> str:
    parts = head_parts(job, gone)
    state = "gone" if gone else job.state
    color = "#757575" if gone else cells.STATE_COLORS.get(state, "#757575")
    words = " · ".join(html.escape(p) for p in parts[1:])
    stale = f"stale: this view's kernel restarted or stopped; run %cron show {parts[0]} again"
    return (
        f"<div style='font-size:90%;color:#555'><b>{html.escape(parts[0])}</b> "
        f"{cells.badge(state, color)} {words} <span class='loopal-stale'>⚠ {html.escape(stale)}</span></div>"
    )


def snapshot_html(job: CronJob, outputs: tuple[Output, ...], taken: datetime, gone: str | None = None) -> str:
    """The view as plain HTML for a saved notebook (GitHub, nbviewer): dated, since nothing updates it there."""
    body = []
    for out in outputs:
        if out.get("output_type") == "stream":
            color = "#c62828" if out.get("name") == "stderr" else "inherit"
            body.append(f"<pre style='color:{color};margin:2px 0'>{html.escape(str(out.get('text', '')))}</pre>")
            continue
        data = out.get("data") or {}
        if "text/html" in data:
            body.append(str(data["text/html"]))
        elif "image/png" in data or "image/jpeg" in data:
            mime = "image/png" if "image/png" in data else "image/jpeg"
            body.append(f"<img src='data:{mime};base64,{html.escape(str(data[mime]))}'/>")
        else:
            text = next((str(data[m]) for m in ("text/markdown", "text/latex", "text/plain") if m in data), "")
            body.append(f"<pre style='margin:2px 0'>{html.escape(text)}</pre>")
    said = f"snapshot of {render.local(taken, job.tz)}; live while its kernel runs"
    head = " · ".join(html.escape(p) for p in head_parts(job, gone))
    return f"<div><div style='color:#555'>{head} <i>({html.escape(said)})</i></div>{''.join(body)}</div>"


def snapshot_text(job: CronJob, outputs: tuple[Output, ...], taken: datetime, gone: str | None = None) -> str:
    lines = [" · ".join(head_parts(job, gone)) + f" (snapshot of {render.local(taken, job.tz)})"]
    for out in outputs:
        if out.get("output_type") == "stream":
            lines.append(str(out.get("text", "")).rstrip("\n"))
        else:
            lines.append(str((out.get("data") or {}).get("text/plain", "<display>")))
    return "\n".join(lines)


# ------------------------------------------------------------------ the widget
class CronView(LiveBox):
    """One job's latest run, replaced in place on each run: ``%cron show NAME`` / ``loopal_ipy.show(NAME)``."""

    def __init__(self, bridge: SchedulerFace, key: str, **kwargs: Any) -> None:
        job = bridge.get(key)  # JobNotFound says which jobs there are
        self._bridge = bridge
        self._loop: asyncio.AbstractEventLoop = bridge.loop
        self.job_id = job.id
        self._job = job
        self._gone: str | None = None  # why the job left (deleted, expired, ...), while it is gone
        self._stale: str | None = None  # why this view hears nothing more (the extension unloaded)
        self._flush_handle: asyncio.Handle | None = None
        self._dormant = False  # the frontend counted its views down to 0: nothing is sent until one is back
        self._missed = False  # something changed while dormant
        self._display_id: str | None = None  # set by show()
        self._closed = False
        self._run: Run | None = job.last_run
        self._unwatch: Callable[[], None] | None = bridge.watch(job.id)
        self.head = widgets.HTML(value=head_html(job), _dom_classes=("loopal-view-head",))
        self.rule = widgets.HTML(value=STYLE, layout=widgets.Layout(display="none"))  # a <style> applies hidden
        self.body = widgets.Output(outputs=run_outputs(self._job, self._run), _dom_classes=("loopal-view-body",))
        self._pulse = pulse_for(bridge)  # a dashboard of views alone says too when its page is gone (shown.py)
        pulse = [self._pulse.play] if self._pulse is not None else []
        super().__init__(
            children=[self.rule, self.head, self.body, *pulse], _view_count=0, _dom_classes=("loopal-view",), **kwargs
        )
        self._unsubscribe: Callable[[], None] | None = bridge.subscribe(self._on_event)
        self._cells_unsubscribe: Callable[[], None] | None = bridge.at_cell_end(self._at_cell_end)
        _live.keep(self, bridge.displaying_cell())  # made by this cell, even inside a layout of the user's

    lives = _live

    @property
    def bridge(self) -> SchedulerFace:
        return self._bridge

    # ----------------------------------------------------------------- events
    def _on_event(self, event: Event) -> None:
        # Called inside Scheduler.emit: never raise, do as little as possible.
        if self._closed or event.job_id != self.job_id:
            return
        if event.kind in GONE and self._gone is None:
            self._gone = f"{event.kind.value}: {event.message}" if event.message else str(event.kind.value)
        if self._dormant:
            self._missed = True
        elif not self._loop.is_running():
            self._flush()
        elif self._flush_handle is None:  # one update per loop turn: a run's fired+finished pair sends once
            self._flush_handle = self._loop.call_soon(self._flush)

    def _at_cell_end(self) -> None:
        """What the cells did to the job (a run, a pause, a delete, from a thread too) is sent once, before
        their reply: nbclient reads a cell's messages until its reply, and a cell that never yields
        lets no loop turn flush before that."""
        if not self._closed and not self._dormant:
            self._flush()

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._closed or self._dormant:
            return
        if self._stale is None:
            try:  # a job that left may come back (a session switched back): the view follows it again
                self._job = self._bridge.get(self.job_id)
                self._gone = None
            except CronError:
                self._gone = self._gone or "deleted"
        try:
            head, run = head_html(self._job, self._stale or self._gone), self._job.last_run
            changed = self.head.value != head or run is not self._run
            if self.head.value != head:
                self.head.value = head
            if run is not self._run:
                self._run = run
                self.body.outputs = run_outputs(self._job, run)
            if changed and self._display_id is not None and not self._view_count:
                self._refresh_snapshot()  # no page draws it (an executed notebook): the saved file follows
        except Exception as e:  # a view bug must not break the scheduler: say it where the view is
            said = html.escape(f"{type(e).__name__}: {e}"[:300])
            self.head.value = f"<pre style='color:{cells.RED}'>view update failed: {said}</pre>"

    def show(self) -> None:
        """Display the view under the running cell, with a display id of its own: where no page draws
        widgets (nbclient, papermill, nbconvert --execute: no view is ever counted), each run then also
        refreshes the saved snapshot, so an executed notebook keeps the last run. A page that draws the
        view gets only the widget's updates (a run sends only itself)."""
        self._display_id = uuid.uuid4().hex
        display(self, display_id=self._display_id)

    def _refresh_snapshot(self) -> None:
        data = widgets.VBox._repr_mimebundle_(self) or {}
        data["text/plain"], data["text/html"] = self._snapshots()
        update_display(data, raw=True, display_id=self._display_id)

    def stale(self, why: str) -> None:
        """This view will hear nothing more (the extension was unloaded): say so, and let go of the scheduler."""
        if self._closed:
            return
        self._stale = why
        self._flush()
        self._let_go()

    # ----------------------------------------------------------------- the page
    def _hidden(self) -> None:
        self._dormant = True

    def _shown(self) -> None:
        if self._dormant:
            self._dormant = False
            if self._missed:
                self._missed = False
                self._flush()

    def _snapshots(self) -> tuple[str, str]:
        outputs = run_outputs(self._job, self._run)
        now, why = self._bridge.now(), self._stale or self._gone
        return snapshot_text(self._job, outputs, now, why), snapshot_html(self._job, outputs, now, why)

    # ---------------------------------------------------------------- closing
    def _let_go(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._cells_unsubscribe is not None:
            self._cells_unsubscribe()
            self._cells_unsubscribe = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _owned(self) -> list[widgets.Widget]:
        return [self.rule, self.head, self.body, *([self._pulse.play] if self._pulse is not None else [])]
