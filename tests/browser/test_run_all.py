"""Run All of every shipped notebook in JupyterLab, then 5 s idle: each notebook's last table shows
its runs increasing (issue 22 item 1: Run All of durable.ipynb once left the scheduler dead, its last
table frozen, because the %unload_ext cell stayed counted as running)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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


@pytest.mark.parametrize("lab", ["lab"], indirect=True)
@pytest.mark.parametrize("name", NAMES)
def test_run_all_leaves_a_table_whose_runs_go_on(lab: Lab, name: str) -> None:
    from playwright.sync_api import sync_playwright

    shutil.copy(NOTEBOOKS / f"{name}.ipynb", lab.root / f"{name}.ipynb")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            _open_and_run_all(page, lab, f"{name}.ipynb")
            _wait(page, _DONE, timeout=180)  # every code cell ran and none runs
            errors = page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.content.widgets.filter(w => w.model.type === 'code')"
                ".flatMap(w => w.model.outputs.toJSON()).filter(o => o.output_type === 'error')"
                ".map(o => o.ename + ': ' + o.evalue)"
            )
            assert errors == [], errors
            page.evaluate("() => { const nb = window.jupyterapp.shell.currentWidget.content;"
                          " nb.activeCellIndex = nb.widgets.length - 1; nb.mode = 'command'; }")  # fmt: skip
            page.keyboard.press("End")  # the last table into view (JupyterLab draws what is on screen)
            before = _wait(page, _LAST_RUNS, timeout=30)
            assert before, "no table at the end of the notebook"
            page.wait_for_timeout(5000)  # idle: no cell runs, no %cron wait
            after = page.evaluate(_LAST_RUNS)
            assert after is not None and sum(after) > sum(before), json.dumps({"before": before, "after": after})
        finally:
            browser.close()
