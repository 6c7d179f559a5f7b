"""Wiring: clock → scheduler → runner → bridge → magics, with a symmetric load/unload (docs/development.md).

All state lives on one object owned by the shell (``shell._loopal_ipy``), never in
module globals, so ``%reload_ext`` cannot leave a second scheduler behind.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .core import retries
from .core.clock import SystemClock
from .core.errors import CodeError
from .core.events import Kind
from .core.job import CronJob
from .core.limits import Settings, compile_check
from .core.scheduler import Scheduler
from .kernel import shown
from .kernel.bridge import KernelScheduler
from .kernel.busy import cell_marker, request_cell
from .kernel.config import Cron
from .kernel.durable import DurableSession, connection_file_of
from .kernel.notice import FirstCellNotice
from .kernel.runner import Runner
from .ui.alerts import Alerts
from .ui.magicargs import wait_transformer
from .ui.magics import MARK, CronMagics

if TYPE_CHECKING:
    from .storage.loadrules import LoadResult
    from .ui.widget import CronTable

_ATTR = "_loopal_ipy"
_STASH = "_loopal_ipy_stash"  # non-durable jobs handed from unload to the next load
# Said with every load that restored jobs: a restored job that now fails with NameError is this.
ONLY_CODE = "only their code was saved: run the cells that define what they use (imports, functions, data)"


def _in_kernel(shell: Any) -> bool:
    return getattr(shell, "kernel", None) is not None


def _check_code(shell: Any):
    def check(code: str) -> None:
        # IPython syntax (%magics, !shell) is fine in job code: check what will run.
        try:
            source = shell.transform_cell(code)
        except (RecursionError, MemoryError):
            source = code  # compile_check says why in words
        except Exception as e:  # IPython's transformers refuse it: say so in one line
            raise CodeError(
                f"code does not compile: IPython cannot transform it ({type(e).__name__}); nothing was created"
            ) from None
        compile_check(source)

    return check


def load(shell: Any) -> KernelScheduler | None:
    """Load once per shell; a second %load_ext is a no-op."""
    state = getattr(shell, _ATTR, None)
    if state is not None:
        return state.get("bridge")
    config = Cron(parent=shell)
    if config not in shell.configurables:
        shell.configurables.append(config)
    bridge, alerts, notice = _start_in_kernel(shell, config) if _in_kernel(shell) else (None, None, None)
    magics = CronMagics(
        shell,
        lambda: getattr(shell, _ATTR, {}).get("bridge"),
        lambda: getattr(shell, _ATTR, {}).get("table"),
        lambda: getattr(shell, _ATTR, {}).get("view"),
    )
    shell.register_magics(magics)
    if wait_transformer not in shell.input_transformers_post:
        shell.input_transformers_post.append(wait_transformer)
    live = bridge is not None  # the live widgets need a kernel's comms
    state = {"bridge": bridge, "config": config, "magics": magics}
    state["table"], state["view"] = (_make_table, _make_view) if live else (None, None)
    state["alerts"], state["notice"] = alerts, notice
    if bridge is not None:
        _show_refusals_as_errors(shell)
    setattr(shell, _ATTR, state)
    _quiet_second_load(shell)
    return bridge


def _say_dropped_retries(core: Scheduler, dropped: Iterable[tuple[str, str]]) -> None:
    """A waiting retry is not saved (docs/running.md): a reload says each one it dropped, and removes a
    one-shot that ran, which has no next occurrence without it."""
    for job_id, which in dropped:
        job = core.live(job_id)
        if job is not None and not job.recurring and job.next_fire is None and not job.running:
            core.remove(job, f"its waiting {which} was dropped by the reload; the one-shot job is removed")
        else:
            core.emit(Kind.STORE, job_id, f"its waiting {which} was dropped by the reload; its next occurrence runs")


def _start_in_kernel(shell: Any, config: Cron) -> tuple[KernelScheduler, Alerts, FirstCellNotice | None]:
    """The core, runner, durable session and bridge of a kernel, started; jobs stashed by a reload come back."""
    clock = SystemClock()
    core = Scheduler(clock, Settings(**config.settings()), check_code=_check_code(shell))
    runner = Runner(shell, clock, config.output_limit)
    loop = asyncio.get_event_loop()

    def warn(message: str) -> None:
        print(message, file=sys.stderr)
        core.emit(Kind.STORE, "-", message.removeprefix("loopal_ipy: "))

    durable = DurableSession(
        core,
        home=config.home,
        env=dict(os.environ),
        user_ns=shell.user_ns,
        connection_file=connection_file_of(shell),
        rehydrate=config.rehydrate,
        warn=warn,
        call_later=loop.call_later,
    )
    bridge = KernelScheduler(shell, core, runner, loop, store=durable)
    stash = getattr(shell, _STASH, None) or {"jobs": [], "running": [], "cells": None, "cell": None}
    # Cells handed over by an unload are still running only if this load runs in that same cell
    # (%reload_ext); an %unload_ext cell before this one has ended, and its end went to nobody.
    cells = stash["cells"] if stash.get("cell") == cell_marker(shell) else None
    core.active.update(stash["running"])  # runs from before the reload are still going: no overlap
    for data in stash["jobs"]:
        core.add(CronJob.from_dict(data, config.history_size))
    setattr(shell, _STASH, None)
    summary = durable.open()
    _say_dropped_retries(core, stash.get("retries", ()))
    durable.on_takeover = bridge.rearm
    notice = _say_load(shell, summary, durable.last_load)
    atexit.register(bridge.at_exit)

    def apply(change: dict[str, Any]) -> None:
        core.set_settings(**{change["name"]: change["new"]})
        runner.output_limit = config.output_limit
        bridge.rearm()

    config.observe(apply, names=list(config.settings()))
    bridge.shown.mode = shown.resolve(config.keep_alive, os.environ)
    config.observe(lambda change: setattr(bridge.shown, "mode", shown.resolve(change["new"], os.environ)), "keep_alive")
    bridge.start(cells=cells)
    alerts = Alerts(bridge, lambda: (config.notify, config.notify_every), _open_log)
    return bridge, alerts, notice


def _say_load(shell: Any, summary: str, loaded: LoadResult | None) -> FirstCellNotice | None:
    """What a load brought back, said in the cell that loads, or (at kernel start) in the first one run."""
    if not summary or (loaded is not None and not loaded.notable):
        return None
    if loaded is not None and loaded.jobs:
        summary += f" — {ONLY_CODE}"
    if request_cell(shell)[1] is not None:
        print(summary)  # %load_ext in a cell: that cell says it
        return None
    return FirstCellNotice(shell, summary)


def _show_refusals_as_errors(shell: Any) -> None:
    """In a kernel, a %cron refusal is also an error output (its one line, no traceback), which headless
    tools print (papermill, nbmake, nbclient); IPython's own way is a stderr line they never show.
    Other magics' UsageErrors are left as IPython shows them."""
    original = shell.show_usage_error
    if getattr(original, MARK, False) or not hasattr(shell, "_showtraceback"):
        return

    def show_usage_error(exc: BaseException) -> None:
        if getattr(exc, MARK, False):
            shell._showtraceback(type(exc), exc, [f"UsageError: {exc}"])
        else:
            original(exc)

    setattr(show_usage_error, MARK, original)
    shell.show_usage_error = show_usage_error


def _quiet_second_load(shell: Any) -> None:
    """A notebook's ``%load_ext loopal_ipy`` after the profile loaded it (loopal-ipy enable) says nothing.

    IPython prints "already loaded ... use %reload_ext" for it; loading is idempotent here,
    so the notebook's own line is simply fine. Other extensions keep IPython's message.
    """
    manager = getattr(shell, "extension_manager", None)
    if manager is None or getattr(manager.load_extension, "_loopal_quiet", False):
        return
    original = manager.load_extension

    def load_extension(module_str: str) -> Any:
        result = original(module_str)
        return None if result == "already loaded" and module_str == "loopal_ipy" else result

    load_extension._loopal_quiet = True  # type: ignore[attr-defined]
    manager.load_extension = load_extension


def _open_log(job_id: str) -> bool:
    """A notification's *Show log*: the job's log in the newest live table, if one is on a page."""
    from .ui.widget import live_tables

    tables = live_tables()
    if not tables or not job_id:
        return False
    tables[-1].show_log(job_id)
    return True


def _make_table(bridge: KernelScheduler) -> CronTable:
    """``%cron list`` in a kernel: the live table (magics must not import the widget layer)."""
    from .ui.widget import CronTable

    return CronTable(bridge)


def _make_view(bridge: KernelScheduler, key: str) -> None:
    """``%cron show NAME`` and ``create --show`` in a kernel: the job's live view, shown (docs/live.md)."""
    from .ui.view import CronView

    CronView(bridge, key).show()


def _views_go_stale(bridge: KernelScheduler) -> None:
    """The views of an unloaded scheduler hear nothing more: each says so."""
    from .ui.view import live_views

    for view in live_views():
        if view.bridge is bridge:
            view.stale("stale: loopal_ipy was unloaded or reloaded; run %cron show again for a live view")


def unload(shell: Any) -> None:
    """Undo load: timer cancelled, hooks and magics removed, jobs handed to the next load."""
    state = getattr(shell, _ATTR, None)
    if state is None:
        return
    bridge = state["bridge"]
    if state.get("alerts") is not None:
        state["alerts"].close()
    if state.get("notice") is not None:
        state["notice"].close()
    if bridge is not None:
        bridge.stop()
        _views_go_stale(bridge)
        atexit.unregister(bridge.at_exit)
        setattr(
            shell,
            _STASH,
            {
                "jobs": [j.to_dict() for j in bridge.jobs() if not j.durable],
                "retries": [(j.id, retries.label(j)) for j in bridge.jobs() if j.next_is_retry],  # not kept
                "running": bridge.running_ids(),
                "cells": bridge.cells,  # the cell that runs %reload_ext is still running
                "cell": cell_marker(shell),
            },
        )
        bridge.successor = lambda: bridge_of(shell)
    original = getattr(shell.show_usage_error, MARK, None)
    if original is not None:  # ours: put back what was there (the class's method, or another tool's)
        if getattr(original, "__func__", None) is getattr(type(shell), "show_usage_error", None):
            del shell.show_usage_error
        else:
            shell.show_usage_error = original
    while wait_transformer in shell.input_transformers_post:
        shell.input_transformers_post.remove(wait_transformer)
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("cron", None)
    if state["config"] in shell.configurables:
        shell.configurables.remove(state["config"])
    delattr(shell, _ATTR)


def bridge_of(shell: Any) -> KernelScheduler | None:
    state = getattr(shell, _ATTR, None)
    return state["bridge"] if state else None
