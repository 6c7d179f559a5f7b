"""The table's log view: one job's bounded history, newest first, one small output widget per run.

One ``Output`` for the whole log re-sent every output on each append (quadratic
traffic, a view that fell behind); here a new run sends only itself, and runs
that fall off the bounded history are closed.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..core.errors import CronError
from ..core.job import Run
from . import cells

if TYPE_CHECKING:
    from ..kernel.face import SchedulerFace


class LogView(widgets.VBox):
    """Hidden until ``show(job_id)``; ``update()`` after the job changed; ``hide()``."""

    def __init__(self, bridge: SchedulerFace, button: Callable[[str], widgets.Button], **kwargs: Any) -> None:
        self._bridge = bridge
        self.job_id: str | None = None
        self._runs: dict[int, tuple[Run, widgets.Output]] = {}  # id(run) -> (run, its widget)
        self._run_layout = widgets.Layout(margin="0")
        self.title = widgets.HTML()
        self._hide = button("close log")
        self._hide.on_click(lambda _b: self.hide())
        self.box = widgets.VBox(layout=widgets.Layout(max_height="24em", overflow="auto", border="1px solid #ddd"))
        self._empty = widgets.HTML("<pre style='margin:2px 4px'>no runs yet</pre>")
        self._head = widgets.HBox([self.title, self._hide])
        super().__init__(
            children=(self._head, self.box), layout=widgets.Layout(display="none"), _dom_classes=("loopal-cron-log",)
        )

    @property
    def runs(self) -> list[widgets.Output]:
        """The widgets of the runs shown, oldest first."""
        return [w for _run, w in self._runs.values()]

    @property
    def shown(self) -> bool:
        return self.layout.display != "none"

    def show(self, job_id: str) -> None:
        job = self._bridge.find(job_id)
        if job is None:
            raise CronError(f"no job {job_id!r}")
        if self.job_id != job.id:
            self._drop_runs()
        self.job_id = job.id
        self.update()
        self.layout.display = None

    def hide(self) -> None:
        self.job_id = None
        self.layout.display = "none"
        self._drop_runs()

    def update(self) -> None:
        """Show the job's history as it is now: new runs are added, runs gone from it are closed."""
        job = self._bridge.find(self.job_id) if self.job_id else None
        if job is None:
            return
        gone = "" if job.id in {j.id for j in self._bridge.jobs()} else " (removed)"
        text = (
            f"<b>log of {html.escape(job.label)}</b>{gone} — <code>{html.escape(job.schedule)}</code> "
            f"({html.escape(job.description)}); runs {job.runs}, failures {job.failures}, "
            f"skipped {job.skips}, coalesced {job.coalesced}; newest first"
        )
        if self.title.value != text:
            self.title.value = text
        old, shown = self._runs, {}
        for run in job.history:  # bounded: the last history_size runs
            got = old.get(id(run))
            if got is None or got[0] is not run:
                got = (run, widgets.Output(outputs=cells.log_outputs(job, run), layout=self._run_layout))
            shown[id(run)] = got
        self._runs = shown
        # Newest first: a notification's "Show log" opens on the run that raised it, not the oldest kept.
        children = tuple(w for _run, w in reversed(shown.values())) or (self._empty,)
        if self.box.children != children:
            self.box.children = children
        for key, (_run, w) in old.items():
            if shown.get(key, (None, None))[1] is not w:
                w.close()  # fell off the bounded history

    def _drop_runs(self) -> None:
        runs, self._runs = self._runs, {}
        self.box.children = ()
        for _run, w in runs.values():
            w.close()

    def close(self) -> None:
        self._drop_runs()
        for w in (self.title, self._hide, self.box, self._empty, self._head):
            for model in (getattr(w, "layout", None), getattr(w, "style", None)):
                if isinstance(model, widgets.Widget):  # closing a shared one twice is a no-op
                    model.close()
            w.close()
        self._run_layout.close()
        self.layout.close()
        super().close()
