"""A failing job reaches the user (docs/alerts.md): a JupyterLab / Notebook 7 notification.

Job output goes to the job's log, so a job that starts failing at 3 a.m. would
stay invisible until someone opens the table. When a job goes from ok to
failing (and again every ``Cron.notify_every`` further failures in a row), this
asks the frontend for a toast naming the job and the error, with a *Show log*
action that opens the job's log in the newest live table. The bridge to the
frontend is ipylab (the optional ``loopal-ipy[alerts]`` extra: a prebuilt
labextension, no JavaScript build); without it nothing breaks and the table
and the log still say it all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import cells

if TYPE_CHECKING:
    from ..kernel.face import SchedulerFace
    from ..kernel.hooks import HookEvent

COMMAND = "loopal-ipy:show-log"
SENT_KEPT = 100
NOTIFY_MODES = ("failures", "all", "off")


class Alerts:
    """Watches runs through a hook and sends notifications; ``sent`` keeps what was asked for."""

    def __init__(
        self,
        bridge: SchedulerFace,
        settings: Callable[[], tuple[str, int]],
        open_log: Callable[[str], bool],
    ) -> None:
        self._settings, self._open_log = settings, open_log
        self._streak: dict[str, int] = {}  # job id -> failures in a row
        # What was asked for, newest last: bounded, a job may fail every second for weeks.
        self.sent: deque[dict[str, Any]] = deque(maxlen=SENT_KEPT)
        self._pending: list[dict[str, Any]] = []
        self._ready = False
        self._app: Any = self._frontend()
        self._off = bridge.on("finished", self._finished, trusted=True)

    @property
    def available(self) -> bool:
        """ipylab is installed (the alerts extra)."""
        return self._app is not None

    def _frontend(self) -> Any:
        try:
            from ipylab import JupyterFrontEnd
        except ImportError:
            return None
        app = JupyterFrontEnd()
        app.on_ready(self._on_ready)  # the frontend model answers once it exists: then commands can go
        return app

    def _on_ready(self) -> None:
        if self._ready:
            return
        self._ready = True
        if COMMAND not in self._app.commands.list_commands():
            self._app.commands.add_command(COMMAND, execute=self._show_log, label="Show the job's log")
        pending, self._pending = self._pending, []
        for args in pending:
            self._app.commands.execute("apputils:notify", args)

    def _show_log(self, job: str = "", **_: Any) -> None:
        self._open_log(job)

    def _finished(self, event: HookEvent) -> None:
        mode, every = self._settings()
        run = event.run
        if mode == "off" or run is None or event.job is None:
            return
        label = event.job.label
        if run.status == "ok":
            if self._streak.pop(event.job_id, 0) and mode == "all":
                self._notify(event.job_id, "success", f"job {label} works again")
            return
        if run.status != "error" or event.retrying:
            return  # a failure that will be retried is not news yet: its last attempt says
        streak = self._streak[event.job_id] = self._streak.get(event.job_id, 0) + 1
        if mode == "all" or streak == 1 or (streak - 1) % every == 0:
            again = f" ({streak} failures in a row)" if streak > 1 else ""
            self._notify(event.job_id, "error", f"job {label} failed{again}: {cells.error_line(run)}")

    def _notify(self, job_id: str, kind: str, message: str) -> None:
        args = {
            "message": message,
            "type": kind,
            "options": {
                "autoClose": False,
                "actions": [{"label": "Show log", "commandId": COMMAND, "args": {"job": job_id}}],
            },
        }
        self.sent.append(args)
        if self._app is None:
            return
        if self._ready:
            self._app.commands.execute("apputils:notify", args)
        else:
            self._pending = [*self._pending[-9:], args]  # the frontend may never come (papermill): bounded

    def close(self) -> None:
        self._off()
        if self._app is not None:
            if self._ready:
                self._app.commands.remove_command(COMMAND)
            for w in (self._app.commands, self._app.shell, self._app.sessions, self._app.menu, self._app.toolbar):
                w.close()
            self._app.close()
            self._app = None
