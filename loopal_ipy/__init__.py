"""loopal_ipy: cron inside your Jupyter kernel.

``%load_ext loopal_ipy`` then ``%cron create "*/5 * * * *" refresh()``. Nothing
here imports IPython at module level, so ``next_fires`` works anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core.errors import CodeError, CronError, JobNotFound, LimitError, ScheduleError, StoreError
from .core.schedule import next_fires

if TYPE_CHECKING:
    from .kernel.bridge import KernelScheduler
    from .ui.view import CronView
    from .ui.widget import CronTable

__all__ = [
    "CodeError",
    "CronError",
    "JobNotFound",
    "LimitError",
    "ScheduleError",
    "StoreError",
    "get_scheduler",
    "load_ipython_extension",
    "next_fires",
    "show",
    "table",
    "unload_ipython_extension",
    "wait",
]
__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    from . import _extension

    _extension.load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from . import _extension

    _extension.unload(ipython)


def get_scheduler() -> KernelScheduler:
    """The scheduler of this kernel (loads the extension if needed)."""
    from IPython import get_ipython

    from . import _extension

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("loopal_ipy.get_scheduler() needs a running IPython kernel; next_fires() works anywhere")
    if _extension.bridge_of(shell) is None and getattr(shell, _extension._ATTR, None) is None:
        shell.extension_manager.load_extension("loopal_ipy")
    bridge = _extension.bridge_of(shell)
    if bridge is None:
        raise RuntimeError(
            "loopal_ipy schedules jobs only in a Jupyter kernel (ipykernel); terminal IPython runs no "
            "event loop between prompts"
        )
    return bridge


def table(page_size: int = 50) -> CronTable:
    """The live job table of this kernel (an ipywidget; docs/table.md)."""
    from .ui.widget import CronTable

    return CronTable(get_scheduler(), page_size=page_size)


def show(job: str) -> CronView:
    """A live view of a job's latest run (an ipywidget; docs/live.md): its figures, tables, text or error,
    replaced in place on each run."""
    from .ui.view import CronView

    return CronView(get_scheduler(), job)


async def wait(job: str | None = None, runs: int = 1, timeout: float | None = None) -> int:
    """Let jobs fire while the calling cell awaits, until ``job`` ran ``runs`` more times."""
    return await get_scheduler().wait(job, runs, timeout)
