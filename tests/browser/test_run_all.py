"""Run All of every shipped notebook in JupyterLab, then 5 s idle: each notebook's last table shows
its runs increasing (Run All of durable.ipynb once left the scheduler dead, its last
table frozen, because the %unload_ext cell stayed counted as running)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from browserutil import CHROMIUM
from test_lab import FLAGS, Lab, _open_and_run_all, _wait

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["quickstart", "durable", "recipes", "dashboard"]

_LAST_RUNS = """() => {
    const tables = [...document.querySelectorAll('.loopal-cron')];
    const last = tables[tables.length - 1];
    if (!last) return null;
    return [...last.querySelectorAll('.loopal-cell-runs')].map(e => parseInt(e.innerText));
}"""
_DONE = """() => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    return nb.widgets.every(w => w.model.type !== 'code' || (w.model.executionCount !== null
        && w.model.executionState !== 'running'));
}"""

_ERRORS = (
    "() => window.jupyterapp.shell.currentWidget.content.widgets.filter(w => w.model.type === 'code')"
    ".flatMap(w => w.model.outputs.toJSON()).filter(o => o.output_type === 'error')"
    ".map(o => o.ename + ': ' + o.evalue)"
)


_TO_THE_END = (
    "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
    " nb.activeCellIndex = nb.widgets.length - 1; nb.mode = 'command'; }"
)


@contextmanager
def run_all(lab: Lab, name: str) -> Iterator[Any]:
    """A page with the shipped notebook ``name`` opened and run whole: every code cell ran, none failed."""
    from playwright.sync_api import sync_playwright

    shutil.copy(NOTEBOOKS / f"{name}.ipynb", lab.root / f"{name}.ipynb")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            _open_and_run_all(page, lab, f"{name}.ipynb")
            _wait(page, _DONE, timeout=180)  # every code cell ran and none runs
            errors = page.evaluate(_ERRORS)
            assert errors == [], errors
            yield page
        finally:
            browser.close()


def last_table_ticks(page: Any, idle: float = 5.0) -> None:
    """The notebook's last table counts more runs after ``idle`` s with no cell running."""
    page.evaluate(_TO_THE_END)
    page.keyboard.press("End")  # the last table into view (JupyterLab draws what is on screen)
    before = _wait(page, _LAST_RUNS, timeout=30)
    assert before, "no table at the end of the notebook"
    page.wait_for_timeout(idle * 1000)
    after = page.evaluate(_LAST_RUNS)
    assert after is not None and sum(after) > sum(before), json.dumps({"before": before, "after": after})


@pytest.mark.parametrize("lab", ["lab"], indirect=True)
@pytest.mark.parametrize("name", NAMES)
def test_run_all_leaves_a_table_whose_runs_go_on(lab: Lab, name: str) -> None:
    with run_all(lab, name) as page:
        last_table_ticks(page)


_RESTART = """async () => {
    const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
    await ctx.session.kernel.restart();  // Kernel → Restart without its dialog: the server's restart_kernel
}"""
_IDLE = """() => {
    const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    return !!k && k.status === 'idle';
}"""
_NAMES = """() => {
    const tables = [...document.querySelectorAll('.loopal-cron')];
    const last = tables[tables.length - 1];
    return last ? [...last.querySelectorAll('.loopal-cell-job i')].map(e => e.innerText) : null;
}"""


@pytest.mark.parametrize("lab", ["lab"], indirect=True)
@pytest.mark.parametrize("name", ["durable", "quickstart"])
@pytest.mark.timeout(480)
def test_restart_and_run_all_twice_finds_the_same_jobs(lab: Lab, name: str) -> None:
    """docs/running.md: create cells are declarations, and a restart's interrupt pauses nothing: Restart &
    Run All, twice, with the same notebook path (so the same durable session) ends with no error output,
    one job per name, and the last table ticking."""
    with run_all(lab, name) as page:
        for attempt in (1, 2):
            page.evaluate(_RESTART)
            _wait(page, _IDLE, timeout=90)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
            _wait(page, "() => window.jupyterapp.shell.currentWidget.content.widgets"
                        ".every(w => w.model.type !== 'code' || w.model.executionCount === null)")  # fmt: skip
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            _wait(page, _DONE, timeout=180)
            errors = page.evaluate(_ERRORS)
            assert errors == [], f"Restart & Run All #{attempt}: {errors}"
            page.evaluate(_TO_THE_END)
            names = _wait(page, _NAMES, timeout=30)
            assert names and len(names) == len(set(names)), f"Restart & Run All #{attempt}: rows {names}"
            last_table_ticks(page, idle=4.0)
